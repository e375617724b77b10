package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/public"
	annual "github.com/liuhen/liuhen/projections/report"
)

func init() {
	commands["project"] = command{"run the projections (case files, annual report, public feed, findings) from any NATS server and serve their read endpoints", runProject}
}

type projectOptions struct {
	data, addr, tokenFile, key, consumer          string
	natsURL, natsCreds, natsCA, natsCert, natsKey string
	events, checkpoints                           string
	agency, timezone, rulesFile, holidaysFile     string
	batch                                         int
	logLevel, logFormat                           string
	shutdownTimeout                               time.Duration
}

func projectFlags(stderr io.Writer) (*flag.FlagSet, *projectOptions) {
	o := &projectOptions{}
	fs := flag.NewFlagSet("project", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	fs.StringVar(&o.natsURL, "nats", "", "`URL` of the NATS server or cluster carrying the ledger's streams (comma-separated; required)")
	fs.StringVar(&o.natsCreds, "nats-creds", "", "NATS credentials `file`")
	fs.StringVar(&o.natsCA, "nats-tls-ca", "", "CA certificate `file` for the NATS connection")
	fs.StringVar(&o.natsCert, "nats-tls-cert", "", "client certificate `file` for the NATS connection")
	fs.StringVar(&o.natsKey, "nats-tls-key", "", "client key `file` for the NATS connection")
	fs.StringVar(&o.events, "events-stream", natsrv.NewLayout("x").Events, "the events `stream`")
	fs.StringVar(&o.checkpoints, "checkpoints-stream", natsrv.NewLayout("x").Checkpoints, "the checkpoints `stream`")
	fs.StringVar(&o.consumer, "consumer", consumerName("project_"+host), "`prefix` of this process's durable consumer names on the server; unique per liuhen project (and different from liuhen serve's)")
	fs.StringVar(&o.data, "data", "./data", "data `dir`ectory: the read models go to DATA/projections (as with liuhen serve)")
	fs.StringVar(&o.addr, "http", "127.0.0.1:8081", "listen `address` of the read endpoints (port 0 picks a free port; the address is printed)")
	fs.StringVar(&o.tokenFile, "token-file", "", "`file` holding the bearer token the read endpoints require (all but /v1/public/decisions); without it they are open, which is allowed only on a loopback -http address")
	fs.StringVar(&o.key, "key", os.Getenv("LIUHEN_KEY"), "the log's verifier key (a `file` holding the log.vkey line, or the line): reports then name the signed checkpoint covering them, read from the checkpoints stream and verified; without it they name none")
	fs.StringVar(&o.agency, "agency", "", "the agency's name in the public disclosure feed (公示)")
	fs.StringVar(&o.timezone, "timezone", "Asia/Shanghai", "the agency's time `zone`: report years, deadlines")
	fs.StringVar(&o.rulesFile, "rules", "", "the agency's compliance rule parameters, a JSON `file` (docs/compliance.md)")
	fs.StringVar(&o.holidaysFile, "holidays", "", "a holiday calendar JSON `file` that replaces the shipped one")
	fs.IntVar(&o.batch, "batch", 0, "most entries applied in one Pebble batch (default 4096)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT or SIGTERM, how long to wait for requests in flight")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: liuhen project -nats URL [flags]
       liuhen project rebuild NAME (-data DIR | -url URL) [-token-file FILE]

Run the projections standalone: read the ledger's events stream from any
NATS server (the embedded one of liuhen serve -nats-listen, or a cluster),
verify every entry (leaf hash, chain link), keep the read models under
DATA/projections, and serve the same read endpoints as liuhen serve:

  GET /v1/cases, /v1/cases/{case_id}, /v1/cases/{case_id}/findings
  GET /v1/reports/annual, /v1/reports/annual/{figure}
  GET /v1/findings, /v1/findings/rules
  GET /v1/public/decisions           (no token)
  GET /v1/status                     the stores' builds, sizes, rebuilds
  POST /v1/projections/{name}/rebuild   rebuild online, the old build serving meanwhile

Reports carry as_of.size; with -key also the signed checkpoint covering
that size (from the checkpoints stream, verified), and as_of.root when a
checkpoint of exactly that size exists: without the ledger there is no
other root to state.

liuhen project rebuild NAME drops the store holding projection NAME
(casefile, report, public, compliance or the store, read) from -data, so
that the next start rebuilds it from the stream; it refuses while a
process has the store open. With -url instead it asks a running liuhen
project to rebuild online.

flags:
`)
		fs.PrintDefaults()
	}
	return fs, o
}

// consumerName makes s a valid durable consumer name.
func consumerName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func runProject(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "rebuild" {
		return runProjectRebuild(ctx, args[1:], stdout, stderr)
	}
	fs, o := projectFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 || o.natsURL == "" {
		fs.Usage()
		return errUsage
	}
	if o.consumer == "" || consumerName(o.consumer) != o.consumer {
		return fmt.Errorf("-consumer %q: letters, digits, '-' and '_' only", o.consumer)
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return project(ctx, o, stdout, log)
}

// project runs until ctx is done, then stops in order: HTTP (drain), the
// projections, their stores, NATS.
func project(ctx context.Context, o *projectOptions, stdout io.Writer, log *slog.Logger) error {
	auth, err := projectAuth(o.addr, o.tokenFile)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(o.timezone)
	if err != nil {
		return fmt.Errorf("-timezone: %v", err)
	}
	cal := compliance.DefaultCalendar()
	if o.holidaysFile != "" {
		if cal, err = compliance.LoadCalendar(o.holidaysFile); err != nil {
			return fmt.Errorf("-holidays: %w", err)
		}
	}
	var params compliance.Params
	if o.rulesFile != "" {
		if params, err = compliance.LoadParams(o.rulesFile); err != nil {
			return fmt.Errorf("-rules: %w", err)
		}
	}
	var key *trustKey
	if o.key != "" {
		if key, err = loadKey(o.key); err != nil {
			return err
		}
	}
	nc, err := natsrv.Connect(natsrv.ConnectConfig{URL: o.natsURL, CredsFile: o.natsCreds, TLSCA: o.natsCA, TLSCert: o.natsCert, TLSKey: o.natsKey, Name: "liuhen project " + o.consumer})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	events, origin, err := eventsStream(ctx, js, o.events)
	if err != nil {
		return err
	}
	var cps annual.Log // nil: reports name no checkpoint
	if key != nil {
		if key.origin() != origin {
			return fmt.Errorf("-key is the verifier key of %q, but stream %s carries %q", key.origin(), o.events, origin)
		}
		cps = &checkpointLog{js: js, stream: o.checkpoints, key: key}
	}

	rt, err := projections.New(projections.Config{
		Dir: filepath.Join(o.data, projectionsDir),
		Consume: func(db *pebble.DB, name string, h projections.Handler) (projections.Consumer, error) {
			name = o.consumer + "_" + name
			return consume.New(js, db, name, h, consume.Options{Stream: o.events, Batch: o.batch, Logger: log.With("component", "consumer", "name", name)})
		},
		Size: func(ctx context.Context) (uint64, error) {
			info, err := events.Info(ctx)
			if err != nil {
				return 0, err
			}
			return info.State.LastSeq, nil // stream sequence = seq + 1
		},
		Logger: log.With("component", "projections"),
	})
	if err != nil {
		return err
	}
	rules, err := compliance.New(compliance.Config{Params: params, Calendar: cal, Location: loc})
	if err != nil {
		return err
	}
	rcfg := annual.Config{Location: loc, Calendar: cal, Findings: rules}
	store, err := rt.Register("read", casefile.New(), annual.New(rcfg), public.New(public.Config{Agency: o.agency}), rules)
	if err != nil {
		rt.Close()
		return err
	}

	mux := http.NewServeMux()
	cases := casefile.Handler(store, casefile.Config{Location: loc, Calendar: cal, Compliance: rules})
	rep := annual.Handler(store, rcfg, cps)
	findings := compliance.Handler(store, rules)
	for pat, h := range map[string]http.Handler{
		"GET /v1/cases": cases, "GET /v1/cases/{case_id}": cases,
		"GET /v1/reports/annual": rep, "GET /v1/reports/annual/{figure}": rep,
		"GET /v1/cases/{case_id}/findings": findings, "GET /v1/findings": findings, "GET /v1/findings/rules": findings,
		"GET /v1/status":                      projectStatus(rt, store, events),
		"POST /v1/projections/{name}/rebuild": projectRebuild(rt),
	} {
		mux.Handle(pat, auth(h))
	}
	mux.Handle("GET /v1/public/decisions", public.Handler(store))

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		rt.Close()
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("listening", "url", "http://"+ln.Addr().String(), "origin", origin, "stream", o.events, "consumer", o.consumer)
	fmt.Fprintf(stdout, "liuhen project: serving http://%s\n", ln.Addr())

	g, gctx := errgroup.WithContext(ctx)
	rctx, stopRuntime := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuntime()
	runErr := make(chan error, 1)
	go func() { runErr <- rt.Run(rctx) }()
	g.Go(func() error {
		select {
		case err := <-runErr:
			runErr <- err
			if err == nil {
				err = errors.New("projections stopped")
			}
			return fmt.Errorf("projections: %w", err)
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: draining HTTP requests", "timeout", o.shutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		return nil
	})
	err = g.Wait()
	stopRuntime()
	if rerr := <-runErr; rerr != nil && err == nil {
		err = fmt.Errorf("projections: %w", rerr)
	}
	if cerr := rt.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// eventsStream returns the events stream and the ledger origin it belongs
// to (its metadata, set by liuhen serve).
func eventsStream(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, string, error) {
	s, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, "", fmt.Errorf("NATS has no stream %s: is liuhen serve publishing the ledger to this server? (-events-stream names another)", name)
	}
	if err != nil {
		return nil, "", fmt.Errorf("stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("stream %s: %w", name, err)
	}
	origin := info.Config.Metadata["liuhen_origin"]
	if origin == "" {
		return nil, "", fmt.Errorf("stream %s does not name the ledger it carries (metadata liuhen_origin): not a liuhen events stream", name)
	}
	return s, origin, nil
}

// projectAuth returns the read endpoints' authentication: the bearer token
// in tokenFile, or none, which only a loopback address may go without.
func projectAuth(addr, tokenFile string) (func(http.Handler) http.Handler, error) {
	if tokenFile == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("-http: %v", err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("-http %s is not a loopback address: give the read endpoints a token with -token-file", addr)
		}
		return func(h http.Handler) http.Handler { return h }, nil
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("-token-file: %v", err)
	}
	token := []byte(strings.TrimSpace(string(b)))
	if len(token) < 16 {
		return nil, fmt.Errorf("-token-file %s: the token must be at least 16 characters", tokenFile)
	}
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
				api.WriteProblem(w, api.CodeUnauthenticated, "this endpoint needs Authorization: Bearer <the token in liuhen project's -token-file>")
				return
			}
			h.ServeHTTP(w, r)
		})
	}, nil
}

// projectStatus serves GET /v1/status: the store's builds and how far they
// are behind the stream.
func projectStatus(rt *projections.Runtime, store *projections.Store, events jetstream.Stream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := store.Status()
		if err != nil {
			projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
			return
		}
		out := struct {
			Stores []projections.Status `json:"stores"`
			Stream uint64               `json:"stream"` // entries in the events stream
			Lag    uint64               `json:"lag"`    // entries of the stream the serving builds do not reflect
		}{Stores: []projections.Status{st}}
		if info, err := events.Info(r.Context()); err == nil {
			out.Stream = info.State.LastSeq
			out.Lag = out.Stream - min(out.Stream, st.Size)
		}
		projections.WriteJSON(w, &out)
	})
}

// projectRebuild serves POST /v1/projections/{name}/rebuild.
func projectRebuild(rt *projections.Runtime) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := rt.Rebuild(name); errors.Is(err, projections.ErrUnknown) {
			projections.WriteProblem(w, projections.CodeNotFound, "name", err.Error())
			return
		} else if err != nil {
			projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
			return
		}
		st, _ := rt.Store(name)
		s, _ := st.Status()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(&s)
	})
}

// checkpointLog is the report's Log read from the checkpoints stream, which
// holds every signed checkpoint in size order: a binary search over stream
// sequences finds the smallest checkpoint covering a size, verified with
// the log's key. Nothing is kept in memory.
type checkpointLog struct {
	js     jetstream.JetStream
	stream string
	key    *trustKey
}

// covering returns the smallest checkpoint whose size is at least size.
func (c *checkpointLog) covering(ctx context.Context, size uint64) (*ledger.Checkpoint, error) {
	s, err := c.js.Stream(ctx, c.stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	sizeAt := func(seq uint64) (uint64, *jetstream.RawStreamMsg, error) {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return 0, nil, err
		}
		n, err := strconv.ParseUint(m.Header.Get(natsrv.HeaderSize), 10, 64)
		return n, m, err
	}
	// Stream sequences start at 1; the answer is in [lo, hi).
	var found *jetstream.RawStreamMsg
	lo, hi := info.State.FirstSeq, info.State.LastSeq+1
	for info.State.Msgs > 0 && lo < hi {
		mid := lo + (hi-lo)/2
		n, m, err := sizeAt(mid)
		if err != nil {
			return nil, err
		}
		if n >= size {
			found, hi = m, mid
		} else {
			lo = mid + 1
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no checkpoint covers size %d yet", ledger.ErrNotFound, size)
	}
	cp, err := c.key.open(found.Data)
	if err != nil {
		return nil, fmt.Errorf("stream %s, message %d: %w", c.stream, found.Sequence, err)
	}
	if cp.Size != mustUint(found.Header.Get(natsrv.HeaderSize)) {
		return nil, fmt.Errorf("stream %s, message %d: the %s header says %s, the signed checkpoint %d", c.stream, found.Sequence, natsrv.HeaderSize, found.Header.Get(natsrv.HeaderSize), cp.Size)
	}
	return cp, nil
}

func mustUint(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// RootAt implements report.Log: the root of the checkpoint of exactly this
// size, if one was signed.
func (c *checkpointLog) RootAt(size uint64) (ledger.Hash, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp, err := c.covering(ctx, size)
	if errors.Is(err, ledger.ErrNotFound) || err == nil && cp.Size != size {
		return ledger.Hash{}, fmt.Errorf("%w: no signed checkpoint of size %d", annual.ErrNoRoot, size)
	}
	if err != nil {
		return ledger.Hash{}, err
	}
	return cp.Root, nil
}

// CheckpointCovering implements report.Log.
func (c *checkpointLog) CheckpointCovering(ctx context.Context, size uint64) (*ledger.Checkpoint, error) {
	return c.covering(ctx, size)
}

// runProjectRebuild is liuhen project rebuild NAME.
func runProjectRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("project rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data `dir`ectory of a stopped liuhen project or liuhen serve: drop the store there")
	url := fs.String("url", "", "`URL` of a running liuhen project: rebuild online")
	tokenFile := fs.String("token-file", "", "`file` holding the running liuhen project's token (with -url)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: liuhen project rebuild NAME (-data DIR | -url URL) [-token-file FILE]

Rebuild the store holding projection NAME (casefile, report, public,
compliance, or the store's name, read) from the start of the stream.
With -data (the process must be stopped) the store is deleted and the next
start rebuilds it. With -url a running liuhen project rebuilds it online:
the current build serves until the new one has caught up.

flags:
`)
		fs.PrintDefaults()
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(args[1:], args[0]) // NAME first, flags after
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() != 1 || (*data == "") == (*url == "") {
		fs.Usage()
		return errUsage
	}
	name := fs.Arg(0)
	if *url != "" {
		return rebuildOnline(ctx, *url, *tokenFile, name, stdout)
	}
	store := name
	if slices.Contains([]string{casefile.Name, annual.Name, public.Name, compliance.Name}, name) {
		store = "read" // liuhen serve and liuhen project keep them all in one store
	}
	dir := filepath.Join(*data, projectionsDir)
	if err := projections.Drop(dir, store); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "liuhen project: dropped store %s in %s; the next start rebuilds it from the stream\n", store, dir)
	return nil
}

func rebuildOnline(ctx context.Context, url, tokenFile, name string, stdout io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/v1/projections/"+name+"/rebuild", nil)
	if err != nil {
		return err
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("-token-file: %v", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "liuhen project: rebuilding %s online: %s\n", name, strings.TrimSpace(string(body)))
	return nil
}
