package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/internal/pebblestats"
)

// TestRoles calls every endpoint with no token, a revoked token and a token
// of every role: a role that may call it never gets 401 or 403 (whatever
// else its empty request earns), every other role gets 403, and no token
// 401 unless the endpoint is public.
func TestRoles(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 2)
	revoked, tok, err := f.tokens.Create(RoleAdmin, "", "to revoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{seq}", "0", "{id}", "0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b61",
		"{case_id}", "0193f09e-1111-7000-8000-000000000001", "{device_id}", "ZFY-1",
		"{sha256}", strings.Repeat("ab", 32))
	roles := map[string]Role{"device": RoleDevice, "device2": RoleDevice, "auditor": RoleAuditor, "reporter": RoleReporter, "admin": RoleAdmin}
	for _, rt := range f.srv.routes {
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		path := fill.Replace(pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			w := f.do(req{method: method, path: path})
			if rt.allow&Public != 0 {
				if w.Code == 401 || w.Code == 403 {
					t.Errorf("no token: %d, want the public answer", w.Code)
				}
			} else if w.Code != 401 {
				t.Errorf("no token: %d, want 401", w.Code)
			}
			if w := f.do(req{method: method, path: path, who: revoked}); w.Code != 401 {
				t.Errorf("revoked token: %d, want 401", w.Code)
			}
			if w := f.do(req{method: method, path: path, header: map[string]string{"Authorization": "Basic eDp5"}}); w.Code != 401 {
				t.Errorf("Basic auth: %d, want 401", w.Code)
			}
			for who, role := range roles {
				w := f.do(req{method: method, path: path, who: who})
				allowed := rt.allow&(role|Public) != 0
				switch {
				case allowed && (w.Code == 401 || w.Code == 403):
					t.Errorf("%s: %d %s, want access", who, w.Code, w.Body)
				case !allowed && w.Code != 403:
					t.Errorf("%s: %d, want 403", who, w.Code)
				}
			}
		})
	}
}

// TestMount: handlers other packages mount get the same authentication
// and coexist with the API's own patterns.
func TestMount(t *testing.T) {
	f := newFixture(t)
	f.srv.Mount("GET /v1/cases/{case_id}", RoleReporter|Readers, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := TokenFrom(r.Context())
		if !ok {
			WriteProblem(w, CodeInternal, "no token")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"case": r.PathValue("case_id"), "role": tok.Role.String()})
	}))
	f.srv.Mount("GET /v1/public/feed", Public, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("feed"))
	}))
	call := func(path, who string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		if who != "" {
			r.Header.Set("Authorization", "Bearer "+f.secrets[who])
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		return w
	}
	if w := call("/v1/cases/abc", "reporter"); w.Code != 200 || !strings.Contains(w.Body.String(), `"role":"reporter"`) {
		t.Errorf("mounted, reporter: %d %s", w.Code, w.Body)
	}
	if w := call("/v1/cases/abc", "device"); w.Code != 403 {
		t.Errorf("mounted, device: %d, want 403", w.Code)
	}
	if w := call("/v1/cases/abc", ""); w.Code != 401 {
		t.Errorf("mounted, no token: %d, want 401", w.Code)
	}
	if w := call("/v1/public/feed", ""); w.Code != 200 || w.Body.String() != "feed" {
		t.Errorf("mounted public: %d", w.Code)
	}
	if w := call("/v1/cases/0193f09e-1111-7000-8000-000000000001/events", "reporter"); w.Code != 403 {
		t.Errorf("API's case events for a reporter: %d, want 403", w.Code)
	}
	if w := call("/v1/cases/0193f09e-1111-7000-8000-000000000001/events", "auditor"); w.Code != 200 {
		t.Errorf("API's case events for an auditor: %d", w.Code)
	}
}

func TestAdminTokens(t *testing.T) {
	f := newFixture(t)
	post := func(body string) *httptest.ResponseRecorder {
		return f.do(req{method: "POST", path: "/v1/admin/tokens", who: "admin", body: []byte(body)})
	}
	w := post(`{"role":"device","device_id":"ZFY-9","name":"执法记录仪 9"}`)
	var nt createTokenAnswer
	mustJSON(t, w.Body.Bytes(), &nt)
	if w.Code != 201 || !strings.HasPrefix(nt.Secret, "lh_") || nt.DeviceID != "ZFY-9" || nt.Role != RoleDevice {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	f.secrets["nine"] = nt.Secret
	if w := f.post("nine", rec("inspection.recorded", "ZFY-9", nil)); w.Code != 200 {
		t.Errorf("new device token posting its own record: %d %s", w.Code, w.Body)
	}
	if w := f.post("nine", rec("inspection.recorded", "ZFY-1", nil)); w.Code != 403 {
		t.Errorf("new device token posting another's: %d", w.Code)
	}
	for _, bad := range []string{`{"role":"root","name":"x"}`, `{"role":"device","name":"x"}`,
		`{"role":"auditor","device_id":"D","name":"x"}`, `{"role":"auditor"}`, `{"role":"auditor","name":"x","extra":1}`, `nope`} {
		if w := post(bad); w.Code != 400 {
			t.Errorf("create %s = %d, want 400", bad, w.Code)
		}
	}
	var list tokenList
	w = f.do(req{method: "GET", path: "/v1/admin/tokens", who: "admin"})
	mustJSON(t, w.Body.Bytes(), &list)
	if len(list.Tokens) != 6 || strings.Contains(w.Body.String(), nt.Secret) {
		t.Errorf("list: %d tokens (want 6), secret shown: %v", len(list.Tokens), strings.Contains(w.Body.String(), nt.Secret))
	}
	if w := f.do(req{method: "DELETE", path: "/v1/admin/tokens/" + nt.ID, who: "admin"}); w.Code != 204 {
		t.Errorf("revoke = %d", w.Code)
	}
	if w := f.do(req{method: "DELETE", path: "/v1/admin/tokens/" + nt.ID, who: "admin"}); w.Code != 404 {
		t.Errorf("revoke again = %d, want 404", w.Code)
	}
	if w := f.post("nine", rec("inspection.recorded", "ZFY-9", nil)); w.Code != 401 {
		t.Errorf("revoked token: %d, want 401", w.Code)
	}
	// The store is durable: reopened, it knows the same tokens.
	again, err := OpenTokens(f.tokens.path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.Authenticate(f.secrets["auditor"]); !ok {
		t.Error("reopened store lost a token")
	}
	if _, ok := again.Authenticate(nt.Secret); ok {
		t.Error("reopened store kept a revoked token")
	}
}

type fakePublisher struct{}

func (fakePublisher) Status() (uint64, uint64, float64) { return 3, 1, 0.5 }

type fakeProjections struct{}

func (fakeProjections) Positions() map[string]uint64 { return map[string]uint64{"cases": 4} }

func (fakeProjections) StorageStats() map[string]pebblestats.Stats {
	return map[string]pebblestats.Stats{"projections/read": {DiskBytes: 12345, L0Files: 3}}
}

func TestStatusHealthMetrics(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Publisher, c.Projections = fakePublisher{}, fakeProjections{} })
	seed(t, f, 4)
	var st statusAnswer
	w := f.do(req{method: "GET", path: "/v1/status", who: "auditor"})
	mustJSON(t, w.Body.Bytes(), &st)
	if st.Size != 4 || st.Publisher == nil || st.Publisher.Position != 3 || st.Publisher.Lag != 1 ||
		st.Projections["cases"].Position != 4 || !strings.Contains(st.Checkpoint, testOrigin) {
		t.Errorf("status = %+v", st)
	}
	if w := f.do(req{method: "GET", path: "/healthz"}); w.Code != 200 {
		t.Errorf("healthz = %d", w.Code)
	}
	if w := f.do(req{method: "GET", path: "/readyz"}); w.Code != 200 {
		t.Errorf("readyz = %d", w.Code)
	}
	w = f.do(req{method: "GET", path: "/metrics"})
	for _, m := range []string{"liuhen_http_requests_total", `liuhen_events_total{status="accepted"} 4`, "liuhen_append_duration_seconds",
		"liuhen_append_batch_records", "liuhen_wal_fsync_duration_seconds", "liuhen_ledger_size 4", "liuhen_publisher_lag_entries 1",
		`liuhen_projection_position{projection="cases"} 4`, "go_goroutines",
		`liuhen_storage_disk_bytes{db="projections/read"} 12345`, `liuhen_storage_l0_files{db="projections/read"} 3`} {
		if !strings.Contains(w.Body.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	// The ledger's own Pebble figures: it has written its WAL and takes disk.
	for _, m := range []string{`liuhen_storage_written_bytes_total{db="ledger",kind="wal"} `, `liuhen_storage_disk_bytes{db="ledger"} `} {
		_, rest, ok := strings.Cut(w.Body.String(), m)
		v, _, _ := strings.Cut(rest, "\n")
		if n, err := strconv.ParseFloat(v, 64); !ok || err != nil || n <= 0 {
			t.Errorf("/metrics: %s%q, want a positive number", m, v)
		}
	}
	f.srv.Drain()
	if w := f.do(req{method: "GET", path: "/readyz"}); w.Code != 503 {
		t.Errorf("readyz while draining = %d, want 503", w.Code)
	}
	// Without a publisher, status has none.
	g := newFixture(t)
	w = g.do(req{method: "GET", path: "/v1/status", who: "admin"})
	if strings.Contains(w.Body.String(), "publisher") {
		t.Errorf("status without a publisher: %s", w.Body)
	}
	if w := g.do(req{method: "GET", path: "/v1/nowhere"}); w.Code != 404 || problemCode(t, w) != CodeNotFound {
		t.Errorf("unknown path = %d", w.Code)
	}
	if w := g.do(req{method: "DELETE", path: "/v1/status", who: "admin"}); w.Code != 405 || problemCode(t, w) != CodeMethodNotAllowed {
		t.Errorf("wrong method = %d", w.Code)
	}
}
