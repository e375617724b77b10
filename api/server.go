package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/pebblestats"
	"github.com/liuhen/liuhen/ledger"
)

// Limits of POST /v1/events (EVENTS.md §1).
const (
	DefaultMaxRequestBytes = 8 << 20
	DefaultMaxRecords      = 1000
)

// Config configures New. The zero value of every optional field means its
// default.
type Config struct {
	// Ledger is the log the API serves. Required. The Server does not close it.
	Ledger *ledger.Ledger
	// Tokens is the token store. Required.
	Tokens *Tokens
	// MediaDir is the directory of the content-addressed media store.
	// Required; created if missing.
	MediaDir string

	// Publisher reports the JetStream relay's progress for /v1/status and
	// /metrics. Default nil: no publisher is reported.
	Publisher PublisherStatus
	// Projections reports the projections' progress. Default nil: none.
	Projections ProjectionStatus
	// Backlog, when set, holds back POST /v1/events while the JetStream
	// relay is connected and more than MaxPublishBacklog entries behind:
	// each request waits, up to BacklogWait, for the backlog to shrink,
	// then is appended whether or not it has. Ingest alone can outrun the
	// relay for as long as it lasts (on two cores it takes the CPU the
	// relay and the read models need), and the backlog, with the read
	// models' staleness, would grow without bound; held back, devices
	// slow down instead. A relay that cannot reach NATS holds back
	// nothing: appends never depend on NATS. Default nil: never held.
	Backlog PublisherBacklog
	// MaxPublishBacklog is the backlog, in entries, above which requests
	// are held back. Default 20,000 (about a second of publishing).
	MaxPublishBacklog uint64
	// BacklogWait is the longest a request is held back. Default 1 s.
	BacklogWait time.Duration
	// Registry is where the API registers its Prometheus metrics and which
	// /metrics serves. Default: a new registry with the Go and process
	// collectors.
	Registry *prometheus.Registry

	// MaxRequestBytes bounds the body of POST /v1/events. Default 8 MiB.
	MaxRequestBytes int64
	// MaxRecords bounds the records of one POST /v1/events. Default 1000.
	MaxRecords int
	// MaxMediaSize bounds one media file, in bytes. Default 64 GiB.
	MaxMediaSize int64
	// FutureTolerance is how far occurred_at may lie after the server clock.
	// Default catalog.DefaultFutureTolerance (10 minutes).
	FutureTolerance time.Duration
	// RequestTimeout bounds reading the body and writing the answer of every
	// request except media transfers. Default 60 s.
	RequestTimeout time.Duration
	// MediaIdleTimeout is how long a media upload or download may make no
	// progress before the connection is dropped. Default 60 s.
	MediaIdleTimeout time.Duration
	// ReceiptWait is how long GET /v1/events/{seq}/receipt waits for a
	// checkpoint covering the entry. Default 10 s.
	ReceiptWait time.Duration
	// Witnessed returns the latest checkpoint cosigned by the witness
	// policy's quorum (witness.Submitter.Witnessed), or nil before the
	// first, for GET /v1/checkpoint/witnessed. Default nil: the server has
	// no witness policy, and the endpoint answers 404.
	Witnessed func() []byte
	// BackupDir is where GET /v1/admin/backup stages its copy of the
	// ledger; on the ledger's file system, Pebble hard-links the table
	// files instead of copying them. Each copy is removed once sent.
	// Default "": the endpoint answers 503.
	BackupDir string
	// ServerDeviceID is the device.id of the records the server writes
	// itself (custody.accessed). Default "liuhen-server".
	ServerDeviceID string
	// Now is the server clock, for catalogue checks and custody records.
	// Default time.Now.
	Now func() time.Time
	// Logger receives request errors. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Ledger == nil {
		errs = append(errs, errors.New("api: Config.Ledger is required"))
	}
	if c.Tokens == nil {
		errs = append(errs, errors.New("api: Config.Tokens is required"))
	}
	if c.MediaDir == "" {
		errs = append(errs, errors.New("api: Config.MediaDir is required"))
	}
	if c.MaxRequestBytes < 0 || c.MaxRecords < 0 || c.MaxMediaSize < 0 || c.RequestTimeout < 0 ||
		c.MediaIdleTimeout < 0 || c.ReceiptWait < 0 || c.BacklogWait < 0 {
		errs = append(errs, errors.New("api: Config limits and timeouts must not be negative"))
	}
	if c.ServerDeviceID != "" && !validDeviceID(c.ServerDeviceID) {
		errs = append(errs, errors.New("api: Config.ServerDeviceID is not a valid device id"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Registry == nil {
		c.Registry = newRegistry()
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxRecords == 0 {
		c.MaxRecords = DefaultMaxRecords
	}
	if c.MaxMediaSize == 0 {
		c.MaxMediaSize = 64 << 30
	}
	if c.FutureTolerance == 0 {
		c.FutureTolerance = catalog.DefaultFutureTolerance
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.MediaIdleTimeout == 0 {
		c.MediaIdleTimeout = 60 * time.Second
	}
	if c.ReceiptWait == 0 {
		c.ReceiptWait = 10 * time.Second
	}
	if c.MaxPublishBacklog == 0 {
		c.MaxPublishBacklog = 20_000
	}
	if c.BacklogWait == 0 {
		c.BacklogWait = time.Second
	}
	if c.ServerDeviceID == "" {
		c.ServerDeviceID = "liuhen-server"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// PublisherStatus is the JetStream relay as the API sees it. Status must be
// safe for concurrent use and cheap: it is called on every /v1/status and
// every scrape of /metrics.
type PublisherStatus interface {
	// Status returns how many entries have been published (the next seq to
	// publish), and how far that is behind the ledger, in entries and in
	// seconds since the oldest unpublished entry was recorded.
	Status() (position, lagEntries uint64, lagSeconds float64)
}

// PublisherBacklog is the JetStream relay as POST /v1/events sees it (see
// Config.Backlog). Backlog must be safe for concurrent use and cheap: it is
// called on every append request.
type PublisherBacklog interface {
	// Backlog returns the entries not yet published, whether the relay is
	// publishing (connected to NATS), and a channel closed when either
	// next changes (at least when the published position moves or the
	// relay stops publishing).
	Backlog() (entries uint64, publishing bool, moved <-chan struct{})
}

// ProjectionStatus is the projections as the API sees them. Positions must
// be safe for concurrent use and cheap.
type ProjectionStatus interface {
	// Positions returns, per projection name, how many entries it has
	// handled; equal to the ledger size when caught up.
	Positions() map[string]uint64
}

// StorageStatus is implemented by a ProjectionStatus whose read models have
// Pebble databases of their own: /metrics then shows their storage figures
// beside the ledger's. StorageStats must be safe for concurrent use and
// cheap; its keys name the databases.
type StorageStatus interface {
	StorageStats() map[string]pebblestats.Stats
}

// A Server is the HTTP API of one ledger. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	cfg     Config
	l       *ledger.Ledger
	mux     *http.ServeMux
	media   *mediaStore
	metrics *metrics
	routes  []route // every registered pattern, for docs and tests; written only before serving
	drain   atomic.Bool
}

type route struct {
	pattern string
	allow   Role
}

// handlerFunc is an endpoint. It answers and returns nil, or returns an
// error that the server maps to a problem (problemOf): the one place where
// errors become statuses.
type handlerFunc func(w http.ResponseWriter, r *http.Request, tok *Token) error

// New returns the API server for cfg.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ms, err := openMediaStore(cfg.MediaDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, l: cfg.Ledger, mux: http.NewServeMux(), media: ms}
	if s.metrics, err = newMetrics(&s.cfg); err != nil {
		return nil, err
	}
	s.routesV1()
	return s, nil
}

// routesV1 registers every endpoint with who may call it. docs/openapi.yaml
// documents the same list; TestRoutesDocumented keeps them in step.
func (s *Server) routesV1() {
	s.handle("POST /v1/events", RoleDevice, s.postEvents, false)
	s.handle("GET /v1/events", Readers, s.listEvents, false)
	s.handle("GET /v1/events/{seq}", Readers, s.eventBySeq, false)
	s.handle("GET /v1/events/by-id/{id}", Readers, s.eventByID, false)
	// "/v1/events/{seq}/media" and "/v1/events/by-id/{id}" would both match
	// /v1/events/by-id/media, which ServeMux refuses; one pattern serves both
	// sub-resources, each with its own roles.
	s.handleSub("GET /v1/events/{seq}/{sub}", map[string]subRoute{
		"media":   {Readers, s.eventMedia},
		"receipt": {Public, s.receipt},
	})
	s.handle("GET /v1/cases/{case_id}/events", Readers, s.caseEvents, false)
	s.handle("GET /v1/devices/{device_id}/events", Readers, s.deviceEvents, false)

	s.handle("PUT /v1/media/{sha256}", RoleDevice, s.putMedia, true)
	s.handle("PATCH /v1/media/{sha256}", RoleDevice, s.patchMedia, true)
	s.handle("HEAD /v1/media/{sha256}", RoleDevice|Readers, s.headMedia, false)
	s.handle("GET /v1/media/{sha256}", Readers, s.getMedia, true)
	s.handle("OPTIONS /v1/media/{sha256}", Public, s.optionsMedia, false)

	s.handle("GET /v1/checkpoint", Public, s.checkpoint, false)
	s.handle("GET /v1/checkpoint/witnessed", Public, s.witnessedCheckpoint, false)
	s.handle("GET /v1/checkpoints", Public, s.checkpointAt, false)
	s.handle("GET /v1/proofs/inclusion", Public, s.inclusionProof, false)
	s.handle("GET /v1/proofs/consistency", Public, s.consistencyProof, false)
	s.handle("GET /v1/verify", Readers, s.verify, true) // may take minutes on a large log
	s.handle("POST /v1/exports", Readers, s.postExport, false)

	s.handle("GET /v1/status", Readers, s.status, false)
	s.handle("POST /v1/admin/tokens", RoleAdmin, s.createToken, false)
	s.handle("GET /v1/admin/tokens", RoleAdmin, s.listTokens, false)
	s.handle("DELETE /v1/admin/tokens/{id}", RoleAdmin, s.revokeToken, false)
	s.handle("GET /v1/admin/backup", RoleAdmin, s.getBackup, true)

	s.handle("GET /healthz", Public, s.healthz, false)
	s.handle("GET /readyz", Public, s.readyz, false)
	s.handle("GET /metrics", Public, s.serveMetrics, false)
}

// Mount adds a handler under pattern (a Go ServeMux pattern, with method,
// e.g. "GET /v1/cases/{case_id}") behind the same authentication, role
// check, timeouts and metrics as the API's own endpoints. allow is the set
// of roles that may call it, or Public. Inside h, TokenFrom(r.Context())
// returns the caller's token, and WriteProblem answers errors in the API's
// format. Mount must be called before the server serves; it panics on a
// pattern that conflicts with a registered one, as ServeMux does.
func (s *Server) Mount(pattern string, allow Role, h http.Handler) {
	s.handle(pattern, allow, func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		if tok != nil {
			r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
		}
		h.ServeHTTP(w, r)
		return nil
	}, false)
}

type subRoute struct {
	allow Role
	h     handlerFunc
}

// handleSub registers a pattern ending in {sub} whose values are separate
// endpoints with separate roles.
func (s *Server) handleSub(pattern string, subs map[string]subRoute) {
	base := strings.TrimSuffix(pattern, "{sub}")
	for name, sr := range subs {
		s.routes = append(s.routes, route{base + name, sr.allow})
	}
	s.mux.Handle(pattern, s.wrap(Public, func(w http.ResponseWriter, r *http.Request, tok *Token) error {
		sr, ok := subs[r.PathValue("sub")]
		if !ok {
			return problem(CodeNotFound, r.URL.Path+" is not an endpoint of this API")
		}
		if p := authorize(tok, sr.allow); p != nil {
			return p
		}
		return sr.h(w, r, tok)
	}, false))
}

type tokenKey struct{}

// TokenFrom returns the token that authenticated the request, if any.
func TokenFrom(ctx context.Context) (Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(*Token)
	if !ok {
		return Token{}, false
	}
	return *t, true
}

// handle registers h behind authentication. streaming endpoints (media
// bodies) manage their own read and write deadlines.
func (s *Server) handle(pattern string, allow Role, h handlerFunc, streaming bool) {
	s.routes = append(s.routes, route{pattern, allow})
	s.mux.Handle(pattern, s.wrap(allow, h, streaming))
}

func (s *Server) wrap(allow Role, h handlerFunc, streaming bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() { s.metrics.observeRequest(r.Pattern, sw.status, time.Since(start)) }()
		if !streaming {
			rc := http.NewResponseController(w)
			deadline := time.Now().Add(s.cfg.RequestTimeout)
			_ = rc.SetReadDeadline(deadline) // unsupported under httptest.ResponseRecorder
			_ = rc.SetWriteDeadline(deadline)
		}
		tok, p := s.authenticate(r, allow)
		if p != nil {
			writeProblem(sw, p)
			return
		}
		if err := h(sw, r, tok); err != nil {
			p := problemOf(err)
			if p.Code == CodeInternal {
				s.cfg.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			if sw.status != 0 {
				// The answer had started (a stream); all we can do is cut it.
				s.cfg.Logger.Warn("response cut", "path", r.URL.Path, "err", err)
				panic(http.ErrAbortHandler)
			}
			writeProblem(sw, p)
		}
	})
}

// authenticate checks the bearer token against allow. A token, if sent,
// must be valid even on public endpoints: a client with a revoked token
// should learn so.
func (s *Server) authenticate(r *http.Request, allow Role) (*Token, *Problem) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if allow&Public != 0 {
			return nil, nil
		}
		return nil, problem(CodeUnauthenticated, "this endpoint needs a bearer token")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, problem(CodeUnauthenticated, "the Authorization header must be \"Bearer <token>\"")
	}
	tok, ok := s.cfg.Tokens.Authenticate(strings.TrimSpace(secret))
	if !ok {
		return nil, problem(CodeUnauthenticated, "unknown or revoked token")
	}
	if p := authorize(&tok, allow); p != nil {
		return nil, p
	}
	return &tok, nil
}

// authorize checks an authenticated token (nil: none) against allow.
func authorize(tok *Token, allow Role) *Problem {
	switch {
	case allow&Public != 0:
		return nil
	case tok == nil:
		return problem(CodeUnauthenticated, "this endpoint needs a bearer token")
	case allow&tok.Role == 0:
		return problem(CodeForbidden, "role "+tok.Role.String()+" may not call this endpoint (allowed: "+allow.String()+")")
	}
	return nil
}

// ServeHTTP routes the request. Requests that match no pattern get a
// problem (404, or 405 with Allow) instead of ServeMux's plain text.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	rec := &discardWriter{header: http.Header{}}
	h.ServeHTTP(rec, r)
	code := CodeNotFound
	if rec.status == http.StatusMethodNotAllowed {
		code = CodeMethodNotAllowed
		w.Header().Set("Allow", rec.header.Get("Allow"))
	}
	s.metrics.observeRequest("unmatched", StatusOf(code), 0)
	writeProblem(w, problem(code, r.Method+" "+r.URL.Path+" is not an endpoint of this API"))
}

// HTTPServer returns an http.Server for s with the connection timeouts set,
// so that a slow client cannot hold a connection forever: headers must
// arrive within 10 s and an idle keep-alive connection is closed after
// 2 min. Bodies and answers are bounded per request (RequestTimeout,
// MediaIdleTimeout).
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
}

// Drain makes /readyz answer 503, so that a load balancer stops sending
// new requests before the HTTP server shuts down.
func (s *Server) Drain() { s.drain.Store(true) }

// Registry returns the Prometheus registry /metrics serves, so that other
// components (the relay, the projections) can register their metrics.
func (s *Server) Registry() *prometheus.Registry { return s.cfg.Registry }

// statusWriter remembers the status for metrics and for knowing whether an
// answer has started.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type discardWriter struct {
	header http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
