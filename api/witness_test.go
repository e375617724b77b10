package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/witness"
)

// TestWitnessed: GET /v1/checkpoint/witnessed serves what the witness
// submitter holds, to anyone, and a receipt with witnessed=true proves the
// entry in it, cosignatures included, so that the policy checks the
// receipt offline; 503 before a witnessed checkpoint covers the entry, 404
// without a policy.
func TestWitnessed(t *testing.T) {
	var held atomic.Pointer[[]byte]
	f := newFixture(t, func(c *Config) {
		c.Witnessed = func() []byte {
			if p := held.Load(); p != nil {
				return *p
			}
			return nil
		}
		c.ReceiptWait = 100 * time.Millisecond
	})
	if w := f.do(req{method: "GET", path: "/v1/checkpoint/witnessed"}); w.Code != 503 || problemCode(t, w) != CodeUnavailable {
		t.Fatalf("before the first: %d %s", w.Code, w.Body)
	}
	seed(t, f, 5)
	cp, err := f.l.CheckpointCovering(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	// A real witness cosigns it.
	wkey, _, err := ledger.GenerateKey("witness.test/w0")
	if err != nil {
		t.Fatal(err)
	}
	cosigner, wvkey, err := witness.NewCosigner(wkey)
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := note.NewVerifier(f.l.VerifierKey())
	ws, err := witness.NewServer(cosigner, []note.Verifier{logV}, filepath.Join(t.TempDir(), "w"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wr := httptest.NewRecorder()
	ws.ServeHTTP(wr, httptest.NewRequest("POST", "/add-checkpoint", bytes.NewReader(witness.FormatRequest(0, nil, cp.Note))))
	if wr.Code != 200 {
		t.Fatalf("witness: %d %s", wr.Code, wr.Body)
	}
	cosigned := append(bytes.Clone(cp.Note), wr.Body.Bytes()...)
	held.Store(&cosigned)
	policy, err := fwitness.ParsePolicy([]byte("witness w0 " + wvkey + " http://127.0.0.1:1/\nquorum w0\n"))
	if err != nil {
		t.Fatal(err)
	}

	w := f.do(req{method: "GET", path: "/v1/checkpoint/witnessed"})
	if w.Code != 200 || w.Body.String() != string(cosigned) || !policy.Satisfied(w.Body.Bytes()) {
		t.Fatalf("witnessed: %d %q", w.Code, w.Body)
	}
	if m := f.do(req{method: "GET", path: "/metrics"}).Body.String(); !strings.Contains(m, fmt.Sprintf("liuhen_witnessed_checkpoint_size %d\n", cp.Size)) {
		t.Errorf("/metrics lacks liuhen_witnessed_checkpoint_size %d", cp.Size)
	}
	for seq := range uint64(5) {
		w := f.do(req{method: "GET", path: fmt.Sprintf("/v1/events/%d/receipt?witnessed=true", seq)})
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" {
			t.Fatalf("witnessed receipt %d: %d %s %q", seq, w.Code, w.Body, w.Header().Get("Cache-Control"))
		}
		if cp := checkReceipt(t, f, seq, w.Body.Bytes()); !policy.Satisfied(cp) {
			t.Fatalf("receipt %d: its checkpoint does not satisfy the policy:\n%s", seq, cp)
		}
	}
	// An entry past the witnessed checkpoint waits, then 503.
	if w := f.post("device", rec("inspection.recorded", "ZFY-1", nil)); w.Code != 200 || f.l.Head().Size != 6 {
		t.Fatalf("post: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "GET", path: "/v1/events/5/receipt?witnessed=true"}); w.Code != 503 || problemCode(t, w) != CodeUnavailable {
		t.Fatalf("receipt past the witnessed checkpoint: %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "GET", path: "/v1/events/0/receipt?witnessed=maybe"}); w.Code != 400 {
		t.Fatalf("witnessed=maybe: %d", w.Code)
	}
	g := newFixture(t)
	seed(t, g, 1)
	for _, path := range []string{"/v1/checkpoint/witnessed", "/v1/events/0/receipt?witnessed=true"} {
		if w := g.do(req{method: "GET", path: path}); w.Code != 404 || problemCode(t, w) != CodeNotFound {
			t.Fatalf("%s without a policy: %d %s", path, w.Code, w.Body)
		}
	}
}
