package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/internal/pebblestats"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/outbox"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/public"
	annual "github.com/liuhen/liuhen/projections/report"
)

// Directories under --data for the pipeline.
const (
	natsDir        = "nats"
	projectionsDir = "projections"
)

// pipelineOptions are serve's flags for NATS and the projections.
type pipelineOptions struct {
	natsURL, natsCreds, natsCA, natsCert, natsKey string
	natsListen                                    string
	natsReplicas                                  int
	natsSyncAlways                                bool
	agency, timezone, rulesFile, holidaysFile     string
	noProjections                                 bool
	natsStartWait                                 time.Duration
}

func pipelineFlags(fs *flag.FlagSet, p *pipelineOptions) {
	fs.StringVar(&p.natsURL, "nats", "", "`URL` of an external NATS server or cluster (comma-separated); default: an embedded server with JetStream under DATA/nats")
	fs.StringVar(&p.natsCreds, "nats-creds", "", "NATS credentials `file` (with -nats)")
	fs.StringVar(&p.natsCA, "nats-tls-ca", "", "CA certificate `file` for the NATS connection (with -nats)")
	fs.StringVar(&p.natsCert, "nats-tls-cert", "", "client certificate `file` for the NATS connection (with -nats)")
	fs.StringVar(&p.natsKey, "nats-tls-key", "", "client key `file` for the NATS connection (with -nats)")
	fs.StringVar(&p.natsListen, "nats-listen", "", "let other processes reach the embedded NATS server on this `address` (e.g. 127.0.0.1:4222); default: in-process only")
	fs.IntVar(&p.natsReplicas, "nats-replicas", 1, "replicas of the JetStream streams: 1, or 3 on a three-node cluster")
	fs.BoolVar(&p.natsSyncAlways, "nats-sync-always", false, "make the embedded JetStream fsync every write (the ledger re-publishes what JetStream loses, so this is not needed for safety)")
	fs.StringVar(&p.agency, "agency", "", "the agency's name in the public disclosure feed (公示), e.g. 晋城市城市管理局")
	fs.StringVar(&p.timezone, "timezone", "Asia/Shanghai", "the agency's time `zone`: report years, deadlines")
	fs.StringVar(&p.rulesFile, "rules", "", "the agency's compliance rule parameters, a JSON `file` (docs/compliance.md); default: the national defaults")
	fs.StringVar(&p.holidaysFile, "holidays", "", "a holiday calendar JSON `file` that replaces the shipped one (法定节假日 and 调休, docs/compliance.md)")
	fs.DurationVar(&p.natsStartWait, "nats-start-wait", 30*time.Second, "at start, how long to wait for JetStream before serving anyway: serve checks first that the streams hold nothing the ledger does not (a ledger restored from an older backup), and refuses to start if they do")
	fs.BoolVar(&p.noProjections, "no-projections", false, "run no projections in this process (e.g. when `liuhen project` runs them elsewhere)")
}

// startPipeline starts, under ctx, the NATS connection (an embedded server by
// default), the JetStream relay and the projections, in g. When ctx ends
// (after the HTTP server has drained) they stop, then the projections' stores
// and NATS close. A fatal error of the relay (the stream diverged from the
// ledger) is also sent on the pipeline's fatal channel so that serve stops.
func startPipeline(ctx context.Context, g *errgroup.Group, o *serveOptions, l *ledger.Ledger, log *slog.Logger) (pipeline, error) {
	p := &o.pipeline
	loc, err := time.LoadLocation(p.timezone)
	if err != nil {
		return pipeline{}, fmt.Errorf("-timezone: %v", err)
	}
	layout := natsrv.NewLayout(l.Origin())
	cfg := natsrv.Config{Layout: layout, Replicas: p.natsReplicas}
	if p.natsURL == "" {
		if p.natsCreds != "" || p.natsCA != "" || p.natsCert != "" || p.natsKey != "" {
			return pipeline{}, errors.New("-nats-creds and -nats-tls-* need -nats")
		}
		cfg.Embed = natsrv.EmbedConfig{StoreDir: filepath.Join(o.data, natsDir), Listen: p.natsListen, SyncAlways: p.natsSyncAlways}
	} else {
		cfg.Connect = natsrv.ConnectConfig{URL: p.natsURL, CredsFile: p.natsCreds, TLSCA: p.natsCA, TLSCert: p.natsCert, TLSKey: p.natsKey, Name: "liuhen serve " + l.Origin()}
	}
	n, err := natsrv.Start(ctx, cfg)
	if err != nil {
		return pipeline{}, fmt.Errorf("nats: %w", err)
	}
	relay, err := outbox.New(l, n.Conn, outbox.Config{Layout: layout, Logger: log.With("component", "relay")})
	if err != nil {
		n.Close()
		return pipeline{}, err
	}
	fatal := make(chan error, 2)
	pl := pipeline{publisher: relayStatus{relay}, fatal: fatal, inStep: relay.InStep()}

	var rt *projections.Runtime
	var store *projections.Store
	if !p.noProjections {
		js, err := jetstream.New(n.Conn)
		if err != nil {
			n.Close()
			return pipeline{}, err
		}
		rt, err = projections.New(projections.Config{
			Dir: filepath.Join(o.data, projectionsDir),
			Consume: func(db *pebble.DB, name string, h projections.Handler) (projections.Consumer, error) {
				return consume.New(js, db, name, h, consume.Options{Stream: layout.Events, Logger: log.With("component", "consumer", "name", name)})
			},
			Size:   func(context.Context) (uint64, error) { return l.Head().Size, nil },
			Logger: log.With("component", "projections"),
		})
		if err != nil {
			n.Close()
			return pipeline{}, err
		}
		cal := compliance.DefaultCalendar()
		if p.holidaysFile != "" {
			if cal, err = compliance.LoadCalendar(p.holidaysFile); err != nil {
				n.Close()
				return pipeline{}, fmt.Errorf("-holidays: %w", err)
			}
		}
		for _, w := range calendarGaps(cal.Years(), time.Now().In(loc)) {
			log.Warn(w)
		}
		var params compliance.Params
		if p.rulesFile != "" {
			if params, err = compliance.LoadParams(p.rulesFile); err != nil {
				n.Close()
				return pipeline{}, fmt.Errorf("-rules: %w", err)
			}
		}
		rules, err := compliance.New(compliance.Config{Params: params, Calendar: cal, Location: loc})
		if err != nil {
			n.Close()
			return pipeline{}, err
		}
		rcfg := annual.Config{Location: loc, Calendar: cal, Findings: rules}
		store, err = rt.Register("read", casefile.New(), annual.New(rcfg), public.New(public.Config{Agency: p.agency}), rules)
		if err != nil {
			rt.Close()
			n.Close()
			return pipeline{}, err
		}
		pl.projections = storeStatus{store, []string{casefile.Name, annual.Name, public.Name, compliance.Name}}
		pl.mount = func(srv *api.Server) {
			read := api.RoleReporter | api.RoleAuditor | api.RoleAdmin
			cases := casefile.Handler(store, casefile.Config{Location: loc, Calendar: cal, MediaPresent: srv.MediaPresent, Compliance: rules})
			srv.Mount("GET /v1/cases", read, cases)
			srv.Mount("GET /v1/cases/{case_id}", read, cases)
			rep := annual.Handler(store, rcfg, l)
			srv.Mount("GET /v1/reports/annual", read, rep)
			srv.Mount("GET /v1/reports/annual/{figure}", read, rep)
			srv.Mount("GET /v1/public/decisions", api.Public, public.Handler(store))
			findings := compliance.Handler(store, rules)
			for _, pat := range []string{"GET /v1/cases/{case_id}/findings", "GET /v1/findings", "GET /v1/findings/rules"} {
				srv.Mount(pat, read, findings)
			}
		}
	}

	g.Go(func() error {
		var sub errgroup.Group
		sub.Go(func() error {
			err := relay.Run(ctx)
			if err != nil {
				fatal <- fmt.Errorf("relay: %w", err)
			}
			return err
		})
		if rt != nil {
			sub.Go(func() error {
				err := rt.Run(ctx)
				if err != nil && ctx.Err() == nil {
					log.Error("projections stopped", "err", err)
				}
				return err
			})
		}
		err := sub.Wait()
		if rt != nil {
			err = errors.Join(err, rt.Close())
		}
		n.Close()
		return err
	})
	return pl, nil
}

// calendarGaps warns of the years around now that the holiday calendar has
// no State Council notice for: there, deadlines in working days count Monday
// to Friday only, holidays and make-up working days (调休) ignored. The
// notice for a year comes out in November or December of the year before.
func calendarGaps(years []int, now time.Time) []string {
	var out []string
	check := func(y int) {
		if !slices.Contains(years, y) {
			out = append(out, fmt.Sprintf("the holiday calendar has no notice for %d: deadlines in working days that reach into %d count Monday to Friday only; load the State Council's notice for %d with --holidays (docs/compliance.md)", y, y, y))
		}
	}
	check(now.Year())
	if now.Month() >= time.November {
		check(now.Year() + 1)
	}
	return out
}

// relayStatus adapts the relay to api.PublisherStatus and
// api.PublisherBacklog.
type relayStatus struct{ r *outbox.Relay }

// serve holds appends back for the relay through this (api.Config.Backlog).
var _ api.PublisherBacklog = relayStatus{}

func (s relayStatus) Backlog() (entries uint64, publishing bool, moved <-chan struct{}) {
	return s.r.Backlog()
}

func (s relayStatus) Status() (position, lagEntries uint64, lagSeconds float64) {
	st := s.r.Status()
	return st.Published, st.Lag, st.LagSeconds
}

// storeStatus adapts a projections store to api.ProjectionStatus: every
// projection in the store reflects the same ledger size.
type storeStatus struct {
	s     *projections.Store
	names []string
}

// StorageStats implements api.StorageStatus.
func (s storeStatus) StorageStats() map[string]pebblestats.Stats {
	st, ok := s.s.StorageStats()
	if !ok {
		return nil
	}
	return map[string]pebblestats.Stats{"projections/" + s.s.Name(): st}
}

func (s storeStatus) Positions() map[string]uint64 {
	st, err := s.s.Status()
	if err != nil {
		return nil
	}
	m := make(map[string]uint64, len(s.names))
	for _, n := range s.names {
		m[n] = st.Size
	}
	return m
}
