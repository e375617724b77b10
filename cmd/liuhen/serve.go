package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/console"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/witness"
)

func init() {
	commands["serve"] = command{"run the HTTP API over a ledger (created on first start)", runServe}
}

// errUsage means the flags were wrong and usage was printed.
var errUsage = errors.New("usage")

type serveOptions struct {
	data, addr, origin, tlsCert, tlsKey, keyFile string
	logLevel, logFormat, pprofAddr               string
	shutdownTimeout, checkpointInterval          time.Duration
	witnessPolicy                                string        // --witness-policy
	witnessInterval                              time.Duration // --witness-interval
	api                                          api.Config    // limits only; the rest is filled by serve
	pipeline                                     pipelineOptions
	demo                                         bool // load the demo year into a fresh ledger (serve_demo.go)
}

// Files under --data.
const (
	ledgerDir      = "ledger"
	signingKeyFile = "signing.key"
	vkeyFile       = "log.vkey"
	adminTokenFile = "admin.token"
	tokensFile     = "tokens.json"
	mediaDir       = "media"
	// stagingDir holds backups being sent (GET /v1/admin/backup): on the
	// ledger's disk, so that the copy hard-links the ledger's table files.
	// Removed at every start.
	stagingDir = "staging"
	// witnessedFile keeps the latest checkpoint the witness policy's
	// quorum cosigned (--witness-policy).
	witnessedFile = "witnessed.checkpoint"
)

func serveFlags(stderr io.Writer) (*flag.FlagSet, *serveOptions) {
	o := &serveOptions{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.data, "data", "./data", "data `dir`ectory: ledger/, media/, signing.key, log.vkey, admin.token, tokens.json")
	fs.StringVar(&o.addr, "http", "127.0.0.1:8080", "listen `address` (port 0 picks a free port; the address is logged)")
	fs.StringVar(&o.origin, "origin", "", "the log's `origin` line in checkpoints, e.g. liuhen.example/jincheng-cgj; set at first start (default liuhen.local/<hostname>), checked afterwards")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM); serve HTTPS when set with -tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&o.keyFile, "key", "", "checkpoint signing key `file` (mode 0600); default DATA/signing.key, created on first start")
	fs.Int64Var(&o.api.MaxRequestBytes, "max-request-bytes", api.DefaultMaxRequestBytes, "largest POST /v1/events body, in `bytes`")
	fs.IntVar(&o.api.MaxRecords, "max-records", api.DefaultMaxRecords, "most records in one POST /v1/events")
	fs.Int64Var(&o.api.MaxMediaSize, "max-media-bytes", 64<<30, "largest media file, in `bytes`")
	fs.DurationVar(&o.api.FutureTolerance, "future-tolerance", catalog.DefaultFutureTolerance, "how far occurred_at may lie after the server clock")
	fs.DurationVar(&o.api.RequestTimeout, "request-timeout", 60*time.Second, "time to read a request body and write an answer (media transfers excepted)")
	fs.DurationVar(&o.api.MediaIdleTimeout, "media-idle-timeout", 60*time.Second, "a media transfer making no progress this long is dropped")
	fs.Uint64Var(&o.api.MaxPublishBacklog, "max-publish-backlog", 20_000, "hold POST /v1/events back while the JetStream publisher is connected and more than this many `entries` behind (0: never)")
	fs.DurationVar(&o.api.BacklogWait, "backlog-wait", time.Second, "the longest a POST /v1/events is held back for the publisher")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT or SIGTERM, how long to wait for requests in flight")
	fs.DurationVar(&o.checkpointInterval, "checkpoint-interval", ledger.DefaultCheckpointInterval, "least time between two signed checkpoints under load (a head that moves after a quiet spell is signed at once); longer saves CPU, receipts and GET /v1/checkpoint wait up to that long; negative signs after every commit")
	fs.StringVar(&o.witnessPolicy, "witness-policy", "", "witness policy `file` (docs/operations.md, \"Witnesses\"): send each checkpoint to its witnesses and serve the latest one its quorum cosigned at GET /v1/checkpoint/witnessed")
	fs.DurationVar(&o.witnessInterval, "witness-interval", witness.DefaultInterval, "with -witness-policy, the least time between two rounds of witnessing")
	fs.StringVar(&o.pprofAddr, "pprof", "", "if set, serve net/http/pprof on this `address` (keep it on loopback)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	fs.BoolVar(&o.demo, "demo", false, "on a fresh ledger, load a demo year of 城管 enforcement (liuhen demo) and print the URL and tokens")
	pipelineFlags(fs, &o.pipeline)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: liuhen serve [flags]

Serve the HTTP API (docs/openapi.yaml) over the ledger in -data.

On first start (no ledger in -data) serve creates the ledger, a checkpoint
signing key (unless -key names one) with its verifier key in DATA/log.vkey,
and an admin token in DATA/admin.token (mode 0600), and prints where
everything is. SIGINT or SIGTERM shut down gracefully: stop accepting, finish
the requests in flight (their appends included), sign the last checkpoint,
close the ledger.

flags:
`)
		fs.PrintDefaults()
	}
	return fs, o
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, o := serveFlags(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, o, stdout, log)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format must be text or json, not %q", format)
}

// serve runs until ctx is done, then shuts down in order: HTTP (drain and
// finish requests, whose appends the ledger completes), the pipeline, the
// ledger (last checkpoint, close Pebble).
func serve(ctx context.Context, o *serveOptions, stdout io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(o.data, 0o750); err != nil {
		return err
	}
	l, tokens, err := openOrCreate(o, stdout, log)
	if err != nil {
		return err
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()

	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipeline()
	var pg errgroup.Group
	pl, err := startPipeline(pctx, &pg, o, l, log)
	if err != nil {
		return err
	}
	if err := pl.awaitInStep(ctx, o.pipeline.natsStartWait, log); err != nil {
		stopPipeline()
		pg.Wait()
		return err
	}

	cfg := o.api
	cfg.Ledger, cfg.Tokens, cfg.MediaDir, cfg.Logger = l, tokens, filepath.Join(o.data, mediaDir), log
	if o.witnessPolicy != "" {
		policy, err := os.ReadFile(o.witnessPolicy)
		if err != nil {
			return err
		}
		ws, err := witness.NewSubmitter(witness.SubmitterConfig{Ledger: l, Policy: policy, Path: filepath.Join(o.data, witnessedFile),
			Interval: o.witnessInterval, Logger: log})
		if err != nil {
			return err
		}
		pg.Go(func() error { return ws.Run(pctx) })
		cfg.Witnessed = ws.Witnessed
	}
	// A backup cut by a crash leaves its copy here.
	cfg.BackupDir = filepath.Join(o.data, stagingDir)
	if err := os.RemoveAll(cfg.BackupDir); err != nil {
		return err
	}
	cfg.Publisher, cfg.Projections = pl.publisher, pl.projections
	if b, ok := pl.publisher.(api.PublisherBacklog); ok && cfg.MaxPublishBacklog > 0 {
		cfg.Backlog = b
	}
	srv, err := api.New(cfg)
	if err != nil {
		return err
	}
	if pl.mount != nil {
		pl.mount(srv)
	}
	// The web console (docs/console.md): "/" and "/console/", reading
	// through srv with each signed-in user's own token; its 导出证据包
	// button asks POST /v1/exports for the bundle.
	con, err := console.New(console.Config{API: srv, Tokens: tokens, Ledger: l, Logger: log, ExportPath: "/v1/exports",
		WitnessedExport: o.witnessPolicy != ""})
	if err != nil {
		return err
	}
	con.Mount(srv)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	hs := srv.HTTPServer(o.addr)
	scheme := "http"
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			ln.Close()
			return err
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	log.Info("listening", "url", scheme+"://"+ln.Addr().String(), "origin", l.Origin(), "size", l.Head().Size)
	fmt.Fprintf(stdout, "liuhen: serving %s://%s\n", scheme, ln.Addr())
	if o.demo {
		go serveDemo(ctx, o, scheme+"://"+ln.Addr().String(), l.Head().Size == 0, stdout, log)
	}

	if o.pprofAddr != "" {
		go servePprof(o.pprofAddr, log)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("http: %w", err)
	case err := <-pl.fatal:
		log.Error("stopping: the pipeline failed", "err", err)
		hs.Close()
		stopPipeline()
		pg.Wait()
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down: draining HTTP requests", "timeout", o.shutdownTimeout)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("HTTP requests still running at the shutdown timeout", "err", err)
		hs.Close()
	}
	stopPipeline()
	if err := pg.Wait(); err != nil {
		log.Error("pipeline", "err", err)
	}
	err = l.Close()
	l = nil
	if err != nil {
		return fmt.Errorf("closing the ledger: %w", err)
	}
	log.Info("stopped")
	return nil
}

// pipeline is what runs beside the HTTP API and follows the ledger: the
// embedded NATS server, the JetStream relay and the projections.
type pipeline struct {
	publisher   api.PublisherStatus   // the relay's progress, for /v1/status and /metrics; nil when none runs
	projections api.ProjectionStatus  // the projections' progress; nil when none run
	mount       func(srv *api.Server) // adds the projections' routes with srv.Mount; may be nil
	fatal       <-chan error          // a failure that must stop serve (the stream diverged from the ledger)
	inStep      <-chan struct{}       // closed once the streams were found in step with the ledger (outbox.Relay.InStep)
}

// awaitInStep waits until the relay has found the JetStream streams in step
// with the ledger (outbox.Relay.InStep), so that no append is accepted while
// a stream may hold entries the ledger lacks: appended, they would fork the
// log at a seq that was already published. A stream that diverges is
// returned as the error. If JetStream cannot be reached within wait, serve
// goes on without the check, since appends must not depend on NATS; the
// relay checks when it connects, and a divergence then stops serve.
func (p pipeline) awaitInStep(ctx context.Context, wait time.Duration, log *slog.Logger) error {
	if p.inStep == nil {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.inStep:
	case err := <-p.fatal:
		return err
	case <-t.C:
		log.Warn("JetStream not reached at start: serving without having checked that its streams hold nothing the ledger lacks", "waited", wait)
	case <-ctx.Done():
	}
	return nil
}

// openOrCreate opens the ledger in o.data, or on first start creates it with
// its signing key, verifier key and admin token.
func openOrCreate(o *serveOptions, stdout io.Writer, log *slog.Logger) (*ledger.Ledger, *api.Tokens, error) {
	dir := filepath.Join(o.data, ledgerDir)
	keyPath := o.keyFile
	if keyPath == "" {
		keyPath = filepath.Join(o.data, signingKeyFile)
	}
	first := !hasFiles(dir)
	var created []string
	var signer *ledger.Signer
	var err error
	if first {
		if signer, created, err = firstKey(o, keyPath); err != nil {
			return nil, nil, err
		}
		origin := signer.Name()
		vpath := filepath.Join(o.data, vkeyFile)
		if err := os.WriteFile(vpath, []byte(signer.VKey+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
		created = append(created, "verifier key   "+vpath)
		lc, err := ledger.Create(ledger.Config{Dir: dir, Origin: origin, Signer: signer, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		// Create returns it open; close it and open it through the one path.
		if err := lc.Close(); err != nil {
			return nil, nil, err
		}
		created = append(created, "ledger         "+dir+" (origin "+origin+")")
	} else if signer, err = ledger.LoadSigner(keyPath); err != nil {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	return openWithTokens(o, dir, signer, created, stdout, log)
}

func openWithTokens(o *serveOptions, dir string, signer *ledger.Signer, created []string,
	stdout io.Writer, log *slog.Logger) (*ledger.Ledger, *api.Tokens, error) {
	l, err := ledger.Open(ledger.Config{Dir: dir, Origin: o.origin, Signer: signer, Logger: log, CheckpointInterval: o.checkpointInterval})
	if err != nil {
		return nil, nil, err
	}
	tokens, err := api.OpenTokens(filepath.Join(o.data, tokensFile))
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	// An admin token is made on first start, and again if a crash came
	// between creating the ledger and writing it.
	adminPath := filepath.Join(o.data, adminTokenFile)
	if !hasAdmin(tokens) {
		secret, _, err := tokens.Create(api.RoleAdmin, "", "admin (created by liuhen serve)")
		if err == nil {
			os.Remove(adminPath)
			err = writeSecret(adminPath, secret)
		}
		if err != nil {
			l.Close()
			return nil, nil, err
		}
		created = append(created, "admin token    "+adminPath+" (mode 0600)")
	}
	if len(created) > 0 {
		fmt.Fprintf(stdout, "liuhen: first start in %s; created:\n", o.data)
		for _, c := range created {
			fmt.Fprintln(stdout, "  "+c)
		}
		fmt.Fprintln(stdout, "  token store    "+filepath.Join(o.data, tokensFile))
		fmt.Fprintln(stdout, "  media store    "+filepath.Join(o.data, mediaDir))
	}
	return l, tokens, nil
}

// firstKey loads the signing key at path, or generates it there.
func firstKey(o *serveOptions, path string) (*ledger.Signer, []string, error) {
	if _, err := os.Stat(path); err == nil {
		s, err := ledger.LoadSigner(path)
		if err != nil {
			return nil, nil, fmt.Errorf("signing key: %w", err)
		}
		if o.origin != "" && s.Name() != o.origin {
			return nil, nil, fmt.Errorf("signing key %s is named %q, but -origin is %q", path, s.Name(), o.origin)
		}
		return s, nil, nil
	} else if o.keyFile != "" {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	origin := o.origin
	if origin == "" {
		host, _ := os.Hostname()
		host = strings.Map(func(r rune) rune {
			if r <= ' ' || r == '+' || r == 0x7f {
				return -1
			}
			return r
		}, host)
		if host == "" {
			host = "localhost"
		}
		origin = "liuhen.local/" + host
	}
	skey, _, err := ledger.GenerateKey(origin)
	if err != nil {
		return nil, nil, err
	}
	if err := ledger.WriteKeyFile(path, skey); err != nil {
		return nil, nil, err
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		return nil, nil, err
	}
	return s, []string{"signing key    " + path + " (mode 0600; back it up, keep it secret)"}, nil
}

func hasAdmin(t *api.Tokens) bool {
	for _, tok := range t.List() {
		if tok.Role == api.RoleAdmin {
			return true
		}
	}
	return false
}

func hasFiles(dir string) bool {
	es, err := os.ReadDir(dir)
	return err == nil && len(es) > 0
}

// writeSecret writes a secret file with mode 0600, durably.
func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// servePprof serves the runtime profiles on their own listener, never on the
// API's.
func servePprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("pprof", "url", "http://"+addr+"/debug/pprof/")
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Warn("pprof", "err", err)
	}
}
