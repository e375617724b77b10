package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/ledger"
)

const testOrigin = "liuhen.test/api"

// fixture is a Server over a real ledger in a temp dir, with one token per
// role. Cleanup verifies the ledger and closes it.
type fixture struct {
	t       testing.TB
	dir     string
	signer  *ledger.Signer
	l       *ledger.Ledger
	tokens  *Tokens
	srv     *Server
	cfg     Config
	secrets map[string]string // "device" (ZFY-1), "device2" (ZFY-2), "auditor", "reporter", "admin"
}

func newFixture(t testing.TB, mod ...func(*Config)) *fixture {
	t.Helper()
	skey, _, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), signer: signer, secrets: map[string]string{}}
	l, err := ledger.Create(ledger.Config{Dir: filepath.Join(f.dir, "ledger"), Origin: testOrigin, Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	f.l = l
	if f.tokens, err = OpenTokens(filepath.Join(f.dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []struct {
		key, dev string
		role     Role
	}{{"device", "ZFY-1", RoleDevice}, {"device2", "ZFY-2", RoleDevice}, {"auditor", "", RoleAuditor},
		{"reporter", "", RoleReporter}, {"admin", "", RoleAdmin}} {
		secret, _, err := f.tokens.Create(tk.role, tk.dev, "test "+tk.key)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[tk.key] = secret
	}
	f.cfg = Config{Ledger: l, Tokens: f.tokens, MediaDir: filepath.Join(f.dir, "media")}
	for _, m := range mod {
		m(&f.cfg)
	}
	if f.srv, err = New(f.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.l == nil {
			return
		}
		if _, err := f.l.Verify(context.Background()); err != nil {
			t.Errorf("Verify at cleanup: %v", err)
		}
		f.l.Close()
	})
	return f
}

// restart closes the ledger and opens it again, with a new Server over it.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.l.Close(); err != nil {
		f.t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: filepath.Join(f.dir, "ledger"), Signer: f.signer})
	if err != nil {
		f.t.Fatal(err)
	}
	f.l = l
	tokens, err := OpenTokens(filepath.Join(f.dir, "tokens.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	f.cfg.Ledger, f.cfg.Tokens, f.cfg.Registry = l, tokens, nil
	if f.srv, err = New(f.cfg); err != nil {
		f.t.Fatal(err)
	}
}

// req is one request to the fixture's server.
type req struct {
	method, path, who string // who: a key of fixture.secrets, or "" for no token
	body              []byte
	header            map[string]string
}

// do sends r through the real handler and checks the answer against
// docs/openapi.yaml.
func (f *fixture) do(r req) *httptest.ResponseRecorder {
	f.t.Helper()
	hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	if r.who != "" {
		s, ok := f.secrets[r.who]
		if !ok {
			s = r.who // a literal token
		}
		hr.Header.Set("Authorization", "Bearer "+s)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, hr)
	checkSpec(f.t, r.method, hr.URL.Path, w.Code, w.Header(), w.Body.Bytes())
	return w
}

func (f *fixture) post(who string, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(req{method: "POST", path: "/v1/events", who: who, body: []byte(body),
		header: map[string]string{"Content-Type": "application/json"}})
}

// results decodes an answer of POST /v1/events, problem or not.
func results(t testing.TB, w *httptest.ResponseRecorder) []Result {
	t.Helper()
	var a struct{ Results []Result }
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %d %q: %v", w.Code, w.Body.String(), err)
	}
	return a.Results
}

func problemCode(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d Content-Type %q, want application/problem+json; body %s", w.Code, ct, w.Body)
	}
	var p struct{ Code string }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p.Code
}

// rec builds a valid record of a catalogue type. Overrides replace (or,
// with a nil value, delete) top-level members.
func rec(typ, device string, over map[string]any) string {
	r := map[string]any{
		"id":          uuid.Must(uuid.NewV7()).String(),
		"type":        typ,
		"case_id":     "0193f09e-1111-7000-8000-000000000042",
		"occurred_at": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"device":      map[string]any{"id": device},
		"officers": []any{map[string]any{"id": "O-1", "cert_no": "1", "name": "王某"},
			map[string]any{"id": "O-2", "cert_no": "2", "name": "李某"}},
	}
	switch typ {
	case "inspection.recorded":
		r["data"] = map[string]any{"findings": "占道经营"}
	case "payment.received":
		r["data"] = map[string]any{"amount_fen": 20000, "receipt_no": "R1"}
	case "evidence.collected":
		r["data"] = map[string]any{"kind": "photo", "description": "现场照片"}
	default:
		r["data"] = map[string]any{}
	}
	for k, v := range over {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func idOf(t testing.TB, raw string) string {
	var v struct{ ID string }
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func lines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
