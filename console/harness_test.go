package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/internal/demo"
	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/outbox"
	"github.com/liuhen/liuhen/ledger/witness"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/public"
	"github.com/liuhen/liuhen/projections/report"
)

// The tests run the console as `liuhen serve` runs it: a real ledger on
// Pebble, the API server, an embedded JetStream server with the relay, and
// the projections fed by the JetStream consumer, all mounted on one
// api.Server behind a real HTTP listener. Test data goes in through
// POST /v1/events with device tokens.

const testOrigin = "liuhen.test/console"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// stack is the whole server.
type stack struct {
	t       testing.TB
	dir     string
	l       *ledger.Ledger
	tokens  *api.Tokens
	srv     *api.Server
	con     *Console
	store   *projections.Store
	relay   *outbox.Relay
	ts      *httptest.Server
	secrets map[string]string // device, device2, auditor, reporter, admin
	seed    *seeded
	wrap    func(http.Handler) http.Handler // applied to the listener's handler, for tampering
	clock   atomic.Pointer[time.Time]       // the ledger's clock while populating; nil: time.Now
	// witnessPolicy is the policy of the stack's witness (witnessed).
	witnessPolicy *fwitness.Group
}

type stackOptions struct {
	noFindings bool // do not mount the compliance endpoints
	export     bool // set Config.ExportPath to the API's POST /v1/exports
	witnessed  bool // run a witness and the log's submitter; exports ask for the witnessed checkpoint
	wrap       func(http.Handler) http.Handler
}

type relayStatus struct{ r *outbox.Relay }

func (s relayStatus) Status() (uint64, uint64, float64) {
	st := s.r.Status()
	return st.Published, st.Lag, st.LagSeconds
}

type storePositions struct{ s *projections.Store }

func (p storePositions) Positions() map[string]uint64 {
	st, err := p.s.Status()
	if err != nil {
		return nil
	}
	return map[string]uint64{"casefile": st.Size, "report": st.Size, "public": st.Size}
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	st := &stack{t: t, dir: t.TempDir(), secrets: map[string]string{}, wrap: o.wrap}
	skey, _, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	st.l, err = ledger.Create(ledger.Config{Dir: filepath.Join(st.dir, "ledger"), Origin: testOrigin, Signer: signer, Logger: quiet,
		Now: func() time.Time {
			if p := st.clock.Load(); p != nil {
				return *p
			}
			return time.Now()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := st.l.Verify(context.Background()); err != nil {
			t.Errorf("Verify at cleanup: %v", err)
		}
		st.l.Close()
	})
	if st.tokens, err = api.OpenTokens(filepath.Join(st.dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		key, dev, name string
		role           api.Role
	}{{"device", "ZFY-1", "执法记录仪 1", api.RoleDevice}, {"device2", "ZFY-2", "执法记录仪 2", api.RoleDevice},
		{"auditor", "", "审计员 张某", api.RoleAuditor}, {"reporter", "", "报表员 李某", api.RoleReporter},
		{"admin", "", "管理员 <b>赵某</b>", api.RoleAdmin}} {
		secret, _, err := st.tokens.Create(tk.role, tk.dev, tk.name)
		if err != nil {
			t.Fatal(err)
		}
		st.secrets[tk.key] = secret
	}

	// JetStream, the relay and the projections, as serve starts them.
	ns, err := natsrv.Embed(natsrv.EmbedConfig{StoreDir: filepath.Join(st.dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := natsrv.ConnectEmbedded(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsrv.EnsureStreams(context.Background(), js, natsrv.NewLayout(testOrigin), 1); err != nil {
		t.Fatal(err)
	}
	if st.relay, err = outbox.New(st.l, nc, outbox.Config{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	rt, err := projections.New(projections.Config{
		Dir: filepath.Join(st.dir, "projections"),
		Consume: func(db *pebble.DB, name string, h projections.Handler) (projections.Consumer, error) {
			return consume.New(js, db, name, h, consume.Options{Logger: quiet, Batch: 256})
		},
		Size:   func(context.Context) (uint64, error) { return st.l.Head().Size, nil },
		Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := projections.LoadZone("")
	rules, err := compliance.New(compliance.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := report.Config{Location: loc, Calendar: compliance.DefaultCalendar()}
	st.store, err = rt.Register("read", casefile.New(), report.New(rcfg), public.New(public.Config{Agency: "晋城市城市管理局"}), rules)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	relayDone, rtDone := make(chan error, 1), make(chan error, 1)
	go func() { relayDone <- st.relay.Run(ctx) }()
	go func() { rtDone <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-relayDone
		if err := <-rtDone; err != nil {
			t.Errorf("projections: %v", err)
		}
		rt.Close()
	})

	mediaDir := filepath.Join(st.dir, "media")
	acfg := api.Config{Ledger: st.l, Tokens: st.tokens, MediaDir: mediaDir, Logger: quiet,
		Publisher: relayStatus{st.relay}, Projections: storePositions{st.store}}
	if o.witnessed {
		st.witnessPolicy = startWitnessing(t, st.l, &acfg)
	}
	st.srv, err = api.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := casefile.Handler(st.store, casefile.Config{Location: loc, MediaPresent: st.srv.MediaPresent})
	st.srv.Mount("GET /v1/cases", api.RoleReporter|api.Readers, ch)
	st.srv.Mount("GET /v1/cases/{case_id}", api.RoleReporter|api.Readers, ch)
	rh := report.Handler(st.store, rcfg, st.l)
	st.srv.Mount("GET /v1/reports/annual", api.RoleReporter|api.Readers, rh)
	st.srv.Mount("GET /v1/reports/annual/{figure}", api.RoleReporter|api.Readers, rh)
	st.srv.Mount("GET /v1/public/decisions", api.Public, public.Handler(st.store))
	if !o.noFindings {
		fh := compliance.Handler(st.store, rules)
		for _, p := range []string{"GET /v1/cases/{case_id}/findings", "GET /v1/findings", "GET /v1/findings/rules"} {
			st.srv.Mount(p, api.RoleReporter|api.Readers, fh)
		}
	}
	cfg := Config{API: st.srv, Tokens: st.tokens, Ledger: st.l, Logger: quiet}
	if o.export {
		cfg.ExportPath = "/v1/exports" // the API's own, as liuhen serve sets it
	}
	cfg.WitnessedExport = o.witnessed
	if st.con, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	st.con.Mount(st.srv)

	var h http.Handler = st.srv
	if st.wrap != nil {
		h = st.wrap(h)
	}
	st.ts = httptest.NewServer(h)
	t.Cleanup(st.ts.Close)
	return st
}

// waitProjected waits until the projections reflect the whole ledger.
func (st *stack) waitProjected() {
	st.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := st.store.Wait(ctx, st.l.Head().Size); err != nil {
		st.t.Fatalf("projections did not catch up with %d entries: %v", st.l.Head().Size, err)
	}
}

// post sends records through POST /v1/events as who; all must be accepted.
func (st *stack) post(who string, recs ...map[string]any) []uint64 {
	st.t.Helper()
	var body bytes.Buffer
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			st.t.Fatal(err)
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	req, _ := http.NewRequest("POST", st.ts.URL+"/v1/events", &body)
	req.Header.Set("Authorization", "Bearer "+st.secrets[who])
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		Results []api.Result `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		st.t.Fatalf("POST /v1/events: %d %v", resp.StatusCode, err)
	}
	var seqs []uint64
	for i, r := range ans.Results {
		if r.Status != api.StatusAccepted {
			st.t.Fatalf("POST /v1/events record %d (%s) = %s %+v", i, recs[i]["type"], r.Status, r.Error)
		}
		seqs = append(seqs, *r.Seq)
	}
	return seqs
}

// putMedia uploads b as who and returns its sha256.
func (st *stack) putMedia(who string, b []byte) string {
	st.t.Helper()
	return st.putMediaAs(who, b)
}

// putMediaAs uploads b with the token st.secrets[who].
func (st *stack) putMediaAs(who string, b []byte) string {
	st.t.Helper()
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("PUT", st.ts.URL+"/v1/media/"+sha, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+st.secrets[who])
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		st.t.Fatalf("PUT media: %d", resp.StatusCode)
	}
	return sha
}

// hostile is put into case fields to check escaping everywhere.
const hostile = `<script>alert("xss")</script>"'><img src=x onerror=alert(1)>`

// seeded describes the test data.
type seeded struct {
	year       int
	caseA      string // general procedure, full lifecycle, a recording whose file arrived
	caseB      string // hostile strings in every text field
	caseC      string // a seizure whose 30 days end within the week
	caseD      string // an order to correct due in 3 days; only registered and opened
	numberA    string
	decisionA  uint64 // seq of case A's decision.made
	mediaA     string // sha256 of the uploaded recording
	mediaMiss  string // sha256 of a recording never uploaded
	recordingA uint64
	first      uint64 // seq of case A's first entry
}

var officers = []any{
	map[string]any{"id": "O-0012", "cert_no": "14050020190012", "name": "王某"},
	map[string]any{"id": "O-0031", "cert_no": "14050020190031", "name": "李某"},
}

// populate posts four cases, a clock observation and a late upload, with
// occurred_at in the last four weeks. The records go in in the order they
// happened, each recorded (by the ledger's clock) a few minutes after it
// occurred, except the late upload, recorded now.
func (st *stack) populate() *seeded {
	st.t.Helper()
	loc, _ := projections.LoadZone("")
	now := time.Now().In(loc)
	// Keep every case in one calendar year, so that the report shows all.
	base := now.Add(-26 * 24 * time.Hour)
	if base.Year() != now.Year() {
		base = time.Date(now.Year(), 1, 1, 9, 0, 0, 0, loc)
	}
	type pending struct {
		at  time.Time
		dev string
		rec map[string]any
	}
	var recs []pending
	at := func(days, hours float64) time.Time {
		t := base.Add(time.Duration(days*24*float64(time.Hour)) + time.Duration(hours*float64(time.Hour)))
		if t.After(now.Add(-time.Hour)) {
			t = now.Add(-time.Hour)
		}
		return t
	}
	rec := func(dev, typ, caseID string, when time.Time, data map[string]any) map[string]any {
		r := map[string]any{"id": uuid.NewString(), "type": typ, "occurred_at": when.Format(time.RFC3339),
			"device": map[string]any{"id": dev}, "officers": officers}
		if data != nil {
			r["data"] = data
		}
		if caseID != "" {
			r["case_id"] = caseID
		}
		recs = append(recs, pending{when, dev, r})
		return r
	}
	s := &seeded{year: base.Year(), caseA: uuid.NewString(), caseB: uuid.NewString(), caseC: uuid.NewString(), caseD: uuid.NewString()}
	s.numberA = fmt.Sprintf("晋市城管立字〔%d〕第1号", s.year)
	video := []byte("not really an mp4, but bytes that hash: " + s.caseA)
	s.mediaA = st.putMedia("device", video)
	s.mediaMiss = strings.Repeat("ab", 32)
	withMedia := func(r map[string]any, sha string, size int) {
		r["media"] = []any{map[string]any{"sha256": sha, "size": size, "content_type": "video/mp4"}}
	}
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }

	// Case A: 一般程序, from registration to payment.
	rec("ZFY-1", "case.registered", s.caseA, at(0, 0), map[string]any{"source": "patrol", "summary": "人行道占道经营"})
	rec("ZFY-1", "case.opened", s.caseA, at(0, 2), map[string]any{"case_number": s.numberA, "procedure": "general",
		"category": "street_vending", "parties": []any{map[string]any{"kind": "person", "name": "张三", "id_number": "140502198001010011"}},
		"approved_by": "O-0001"})
	withMedia(rec("ZFY-1", "recording.made", s.caseA, at(0, 3), map[string]any{"started_at": ts(at(0, 2.5)), "ended_at": ts(at(0, 3)),
		"interruptions": []any{}}), s.mediaA, len(video))
	rec("ZFY-1", "inspection.recorded", s.caseA, at(0, 3.1), map[string]any{"document_no": "晋市城管检字第1号", "findings": "占用人行道摆摊"})
	rec("ZFY-1", "notice.served", s.caseA, at(2, 0), map[string]any{"intended": map[string]any{"penalties": []any{"fine"}, "fine_fen": 50000},
		"hearing_right": false, "method": "direct"})
	rec("ZFY-1", "statement.waived", s.caseA, at(2, 1), nil)
	rec("ZFY-1", "decision.made", s.caseA, at(8, 0), map[string]any{"outcome": "penalty", "penalties": []any{"fine"}, "fine_fen": 50000,
		"legal_basis": []any{"《城市市容和环境卫生管理条例》第三十六条"}, "document_no": "晋市城管罚字第1号", "major": false})
	rec("ZFY-1", "document.served", s.caseA, at(8, 2), map[string]any{"document": "decision", "method": "direct", "recipient": "张三"})
	rec("ZFY-1", "decision.published", s.caseA, at(9, 0), map[string]any{"document_no": "晋市城管罚字第1号", "channel": "门户网站"})
	rec("ZFY-1", "payment.received", s.caseA, at(10, 0), map[string]any{"amount_fen": 50000, "receipt_no": "R-0001"})

	// Case B: hostile strings wherever a device may write text.
	rec("ZFY-1", "case.registered", s.caseB, at(3, 0), map[string]any{"source": "complaint", "summary": "摘要" + hostile})
	rec("ZFY-1", "case.opened", s.caseB, at(3, 1), map[string]any{"case_number": "案号" + hostile, "procedure": "simple",
		"category": "dust", "parties": []any{map[string]any{"kind": "org", "name": "当事人" + hostile}}, "approved_by": "O-0001"})
	rec("ZFY-1", "inspection.recorded", s.caseB, at(3, 2), map[string]any{"document_no": "文书" + hostile, "findings": hostile})
	rec("ZFY-1", "decision.made", s.caseB, at(3, 3), map[string]any{"outcome": "penalty", "penalties": []any{"fine"}, "fine_fen": 20000,
		"legal_basis": []any{"依据" + hostile}, "document_no": "决定" + hostile, "major": false})
	withMedia(rec("ZFY-1", "recording.made", s.caseB, at(3, 4), map[string]any{"started_at": ts(at(3, 2)), "ended_at": ts(at(3, 3)),
		"interruptions": []any{}}), s.mediaMiss, 1<<20)

	// Case C: a seizure imposed 26 days ago: its 30 days end within the week.
	rec("ZFY-2", "case.registered", s.caseC, now.Add(-27*24*time.Hour), map[string]any{"source": "hotline", "summary": "违法搭建"})
	rec("ZFY-2", "case.opened", s.caseC, now.Add(-26*24*time.Hour-time.Hour), map[string]any{
		"case_number": fmt.Sprintf("晋市城管立字〔%d〕第3号", now.Year()), "procedure": "general", "category": "illegal_construction",
		"parties": []any{map[string]any{"kind": "org", "name": "某某建筑有限公司"}}, "approved_by": "O-0001"})
	rec("ZFY-2", "measure.imposed", s.caseC, now.Add(-26*24*time.Hour), map[string]any{"kind": "seize",
		"items": []any{"脚手架"}, "term_days": 30, "emergency": false, "approved_by": "O-0001"})

	// Case D: an order to correct, due in three days; then ZFY-2 reports
	// its clock.
	rec("ZFY-2", "case.registered", s.caseD, at(20, 0), map[string]any{"source": "patrol", "summary": "户外广告未经批准"})
	rec("ZFY-2", "order.issued", s.caseD, at(20, 1), map[string]any{"deadline": now.Add(3 * 24 * time.Hour).Format(time.DateOnly)})
	rec("ZFY-2", "device.clock_observed", "", at(20, 2), map[string]any{"device_time": ts(at(20, 2)), "server_time": ts(at(20, 2)), "offset_ms": 1500})

	slices.SortStableFunc(recs, func(a, b pending) int { return a.at.Compare(b.at) })
	devSeq := map[string]int{}
	for _, p := range recs {
		devSeq[p.dev]++
		if p.dev == "ZFY-2" && devSeq[p.dev] == 4 {
			devSeq[p.dev] += 2 // device seqs 4 and 5 never arrive: a gap
		}
		p.rec["device"] = map[string]any{"id": p.dev, "seq": devSeq[p.dev]}
		recorded := p.at.Add(5 * time.Minute)
		st.clock.Store(&recorded)
		who := map[string]string{"ZFY-1": "device", "ZFY-2": "device2"}[p.dev]
		seq := st.post(who, p.rec)[0]
		switch id := p.rec["case_id"]; {
		case id == s.caseA && s.first == 0 && p.rec["type"] == "case.registered":
			s.first = seq
		case id == s.caseA && p.rec["type"] == "recording.made":
			s.recordingA = seq
		case id == s.caseA && p.rec["type"] == "decision.made":
			s.decisionA = seq
		}
	}
	st.clock.Store(nil)
	// A late upload: occurred three days ago, recorded now.
	late := rec("ZFY-1", "inspection.recorded", s.caseA, now.Add(-72*time.Hour), map[string]any{"findings": "补充检查"})
	late["device"] = map[string]any{"id": "ZFY-1", "seq": devSeq["ZFY-1"] + 1}
	st.post("device", late)
	st.waitProjected()
	st.seed = s
	return s
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects.
type client struct {
	t    testing.TB
	st   *stack
	c    *http.Client
	csrf string
}

func (st *stack) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: st.t, st: st, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.st.ts.URL+path, nil)
	return c.do(req)
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	p := page{resp.StatusCode, resp.Header, string(b)}
	if m := csrfRE.FindStringSubmatch(p.body); m != nil {
		c.csrf = m[1]
	}
	return p
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form as the browser does: same origin.
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.st.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.st.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.do(req)
}

// login signs in with who's token and returns the client.
func (st *stack) login(who string) *client {
	st.t.Helper()
	c := st.client()
	p := c.get("/console/login")
	if p.status != http.StatusOK {
		st.t.Fatalf("GET /console/login = %d", p.status)
	}
	p = c.post("/console/login", url.Values{"csrf": {c.csrf}, "token": {st.secrets[who]}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/" {
		st.t.Fatalf("POST /console/login as %s = %d %s, want 303 to /console/\n%s", who, p.status, p.header.Get("Location"), p.body)
	}
	c.get("/console/") // picks up the session's CSRF token
	return c
}

// demoYear is what populateDemo loaded.
type demoYear struct {
	year  int
	cases []string // case ids, in the order their case.opened was posted
}

// populateDemo posts a generated year of the demo (liuhen demo's
// generator, internal/demo) through the API, each device with its own
// token, the media files uploaded as liuhen demo does.
func (st *stack) populateDemo(cases int) *demoYear {
	st.t.Helper()
	y := demo.Generate(demo.Options{Seed: 1, Year: 2025, Cases: cases})
	d := &demoYear{year: 2025}
	secrets := map[string]string{}
	var late [][2]string // device, sha256
	lateData := map[string][]byte{}
	flush := func(dev string, batch []map[string]any) {
		if len(batch) == 0 {
			return
		}
		if secrets[dev] == "" {
			secret, _, err := st.tokens.Create(api.RoleDevice, dev, "demo "+dev)
			if err != nil {
				st.t.Fatal(err)
			}
			secrets[dev] = secret
			st.secrets["demo "+dev] = secret
		}
		st.post("demo "+dev, batch...)
	}
	var batch []map[string]any
	dev := ""
	for _, r := range y.Records {
		var rec map[string]any
		if err := json.Unmarshal(r.Raw, &rec); err != nil {
			st.t.Fatal(err)
		}
		if r.Device != dev || len(batch) == 500 {
			flush(dev, batch)
			batch, dev = nil, r.Device
		}
		batch = append(batch, rec)
		if rec["type"] == "case.opened" {
			d.cases = append(d.cases, rec["case_id"].(string))
		}
		for _, m := range r.Media {
			switch {
			case m.Missing:
			case m.Late:
				late = append(late, [2]string{r.Device, m.SHA256})
				lateData[m.SHA256] = m.Data
			default:
				flush(dev, batch)
				batch = nil
				st.putMediaAs("demo "+r.Device, m.Data)
			}
		}
	}
	flush(dev, batch)
	for _, l := range late {
		st.putMediaAs("demo "+l[0], lateData[l[1]])
	}
	st.waitProjected()
	return d
}

// startWitnessing runs a real witness over HTTP and the log's submitter
// until the test ends, and has cfg serve the witnessed checkpoint; it
// returns the witness policy.
func startWitnessing(t testing.TB, l *ledger.Ledger, cfg *api.Config) *fwitness.Group {
	t.Helper()
	wkey, _, err := ledger.GenerateKey("witness.court.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	cosigner, wvkey, err := witness.NewCosigner(wkey)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.NewServer(cosigner, []note.Verifier{logV}, t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ws := httptest.NewServer(w)
	t.Cleanup(ws.Close)
	policy := "witness w1 " + wvkey + " " + ws.URL + "/\nquorum w1\n"
	sub, err := witness.NewSubmitter(witness.SubmitterConfig{Ledger: l, Policy: []byte(policy),
		Path: filepath.Join(t.TempDir(), "witnessed"), Interval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg.Witnessed = sub.Witnessed
	p, err := fwitness.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	return &p
}
