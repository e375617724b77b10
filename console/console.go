package console

import (
	"crypto/rand"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator checks a bearer token's secret, as api.Tokens does. It must
// be safe for concurrent use and cheap: the console asks it on every request,
// so that a revoked token or a changed role takes effect at once.
type Authenticator interface {
	Authenticate(secret string) (api.Token, bool)
}

// Mounter is where the console adds its routes: *api.Server.
type Mounter interface {
	Mount(pattern string, allow api.Role, h http.Handler)
}

// Config configures New. The zero value of every optional field means its
// default.
type Config struct {
	// API is the HTTP API the console reads through, with the signed-in
	// user's own token, so that a user sees in the console exactly what the
	// API lets that token see. Required; normally the *api.Server the
	// console is mounted on.
	API http.Handler
	// Tokens authenticates the token a user signs in with. Required;
	// normally the server's *api.Tokens.
	Tokens Authenticator
	// Ledger, if set, supplies what no endpoint serves: the device page,
	// the dashboard's events per day, the report's months, the latest
	// checkpoint's time and the verifier key shown on 验证. Default nil:
	// those parts show 暂无数据.
	Ledger *ledger.Ledger
	// ExportPath is the API endpoint that records an export and answers
	// with a case's evidence bundle (证据包): "/v1/exports" (POST, with
	// {"case_id", "purpose", "media", "format": "zip"}; docs/api.md). With
	// it the case page offers auditors a download button (导出证据包) as
	// well as the `liuhen export` command. Default "": the command only.
	ExportPath string
	// WitnessedExport asks the export endpoint for bundles whose
	// checkpoint is the latest one the server's witness policy cosigned
	// ("witnessed": true; liuhen serve sets it with --witness-policy).
	WitnessedExport bool
	// Location is the agency's time zone, for every date shown. Default
	// Asia/Shanghai.
	Location *time.Location
	// SessionTTL is the longest a sign-in lasts. Default 12 h.
	SessionTTL time.Duration
	// IdleTimeout ends a session unused this long. Default 1 h.
	IdleTimeout time.Duration
	// LateUpload is the delay from occurred_at to recorded_at above which
	// the device page counts an entry as a late upload (迟传). Default 24 h,
	// the compliance rule late-upload's threshold.
	LateUpload time.Duration
	// DeadlineCases bounds how many open cases the dashboard reads to list
	// deadlines due within 7 days, newest first. Default 300.
	DeadlineCases int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives errors. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.API == nil {
		errs = append(errs, errors.New("console: Config.API is required"))
	}
	if c.Tokens == nil {
		errs = append(errs, errors.New("console: Config.Tokens is required"))
	}
	if c.SessionTTL < 0 || c.IdleTimeout < 0 || c.LateUpload < 0 || c.DeadlineCases < 0 {
		errs = append(errs, errors.New("console: Config durations and limits must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Location == nil {
		c.Location, _ = projections.LoadZone("")
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Hour
	}
	if c.LateUpload == 0 {
		c.LateUpload = 24 * time.Hour
	}
	if c.DeadlineCases == 0 {
		c.DeadlineCases = 300
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// A Console is the web console. It is an http.Handler for "/" and
// "/console/…" and safe for concurrent use.
type Console struct {
	cfg      Config
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	loginKey [32]byte // HMAC key of the sign-in form's CSRF token; random per process
	cop      *http.CrossOriginProtection
	index    *ledgerIndex // nil without a ledger

	ovMu sync.Mutex // guards scan and ov
	scan *caseScan  // the last scan of the case list, reused while its ledger size is the same
	ov   *overview  // the dashboard's deadlines, reused while the scan and the minute are the same
}

// New returns the console for cfg.
func New(cfg Config) (*Console, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	pages, err := parsePages(cfg.Location)
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, pages: pages, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	c.sessions = newSessions(cfg.SessionTTL, cfg.IdleTimeout, cfg.Now)
	if _, err := rand.Read(c.loginKey[:]); err != nil {
		return nil, err
	}
	if cfg.Ledger != nil {
		c.index = newLedgerIndex(cfg.Ledger, cfg.Location, cfg.LateUpload)
	}
	c.routes()
	return c, nil
}

// Mount adds the console to the API server: "/" redirects to "/console/",
// and everything under "/console/" is the console's. The console does its
// own authentication (a session cookie), so both are mounted as public.
func (c *Console) Mount(m Mounter) {
	m.Mount("GET /{$}", api.Public, c)
	m.Mount("/console/", api.Public, c)
}

// Roles allowed to sign in, and the subsets pages need.
const (
	signedIn = api.RoleAuditor | api.RoleReporter | api.RoleAdmin
	readers  = api.Readers // entry bytes, media, devices, status: as in the API
)

func (c *Console) routes() {
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	c.mux.Handle("GET /console/static/", cacheFor(time.Hour, files))
	c.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})

	c.mux.HandleFunc("GET /console/login", c.loginPage)
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/logout", c.logout)
	c.mux.Handle("GET /console/public", c.page(0, c.publicPage))

	c.mux.Handle("GET /console/{$}", c.page(signedIn, c.dashboard))
	c.mux.Handle("GET /console/cases", c.page(signedIn, c.caseList))
	c.mux.Handle("GET /console/cases/{case_id}", c.page(signedIn, c.casePage))
	c.mux.Handle("POST /console/cases/{case_id}/media/{sha256}", c.page(readers, c.mediaView))
	c.mux.Handle("GET /console/play/{ticket}", c.page(readers, c.playPage))
	c.mux.Handle("GET /console/media/{ticket}", c.page(readers, c.mediaStream))
	c.mux.Handle("POST /console/cases/{case_id}/export", c.page(readers, c.export))
	c.mux.Handle("GET /console/findings", c.page(signedIn, c.findingsPage))
	c.mux.Handle("GET /console/report", c.page(signedIn, c.reportPage))
	c.mux.Handle("GET /console/report/download", c.page(signedIn, c.reportDownload))
	c.mux.Handle("GET /console/report/figure/{figure}", c.page(signedIn, c.figurePage))
	c.mux.Handle("GET /console/devices", c.page(readers, c.devicesPage))
	c.mux.Handle("GET /console/entries/{seq}", c.page(readers, c.entryBytes))

	c.mux.Handle("/console/", c.page(0, func(w http.ResponseWriter, r *http.Request, s *session) error {
		return errNotFound
	}))
}

// ServeHTTP serves the console. Every answer carries the security headers
// (see securityHeaders); every state-changing request must come from the
// console's own pages (same origin, and a CSRF token in the form).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if err := c.cop.Check(r); err != nil {
		c.render(w, r, nil, http.StatusForbidden, "error", errorData{Title: "请求被拒绝", Message: "跨站请求被拒绝：表单只能从本控制台的页面提交。"})
		return
	}
	c.mux.ServeHTTP(w, r)
}
