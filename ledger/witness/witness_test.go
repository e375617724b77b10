package witness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
)

const origin = "liuhen.test/witnessed"

// rec is a valid record; i picks its id.
func rec(i int) []byte {
	return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-%012d","occurred_at":"2025-05-12T09:31:02+08:00","device":{"id":"ZFY-1","seq":%d},"data":{"findings":"占道经营"}}`, i, i%3, i))
}

// testLog is a ledger with a checkpoint per size asked for.
type testLog struct {
	t      *testing.T
	l      *ledger.Ledger
	signer *ledger.Signer
	next   int
}

func newTestLog(t *testing.T, signer *ledger.Signer) *testLog {
	t.Helper()
	l, err := ledger.Create(ledger.Config{Dir: filepath.Join(t.TempDir(), "ledger"), Origin: origin, Signer: signer, CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLog{t: t, l: l, signer: signer}
}

// grow appends records up to size (ids from base) and returns the
// checkpoint of that size.
func (g *testLog) grow(size uint64, base int) *ledger.Checkpoint {
	g.t.Helper()
	for g.l.Head().Size < size {
		if _, err := g.l.Append(context.Background(), [][]byte{rec(base + g.next)}); err != nil {
			g.t.Fatal(err)
		}
		g.next++
	}
	cp, err := g.l.CheckpointCovering(context.Background(), size)
	if err != nil || cp.Size != size {
		g.t.Fatalf("checkpoint of size %d: %+v %v", size, cp, err)
	}
	return cp
}

func (g *testLog) proof(from, to uint64) [][]byte {
	g.t.Helper()
	p, err := g.l.ConsistencyProof(from, to)
	if err != nil {
		g.t.Fatal(err)
	}
	var out [][]byte
	for _, h := range p {
		out = append(out, bytes.Clone(h[:]))
	}
	return out
}

func newSigner(t *testing.T, name string) (*ledger.Signer, string) {
	t.Helper()
	skey, _, err := ledger.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, skey
}

// newWitness returns a witness of the log signed by logKey, keeping its
// state in dir, and its cosignature/v1 verifier key.
func newWitness(t *testing.T, name string, logKey note.Verifier, dir string) (*Server, string) {
	t.Helper()
	_, skey := newSigner(t, name)
	cosigner, vkey, err := NewCosigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewServer(cosigner, []note.Verifier{logKey}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, vkey
}

func logVerifier(t *testing.T, s *ledger.Signer) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(s.VKey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func post(t *testing.T, h http.Handler, body []byte) (int, string, []byte) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/add-checkpoint", bytes.NewReader(body)))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, w.Header().Get("Content-Type"), b
}

// TestServer: the witness cosigns only checkpoints that extend, by a
// verified consistency proof, the last one it cosigned for the log, and
// answers every other request with the status C2SP tlog-witness gives it;
// its state survives a restart.
func TestServer(t *testing.T) {
	signer, _ := newSigner(t, origin)
	g := newTestLog(t, signer)
	cp5, cp12 := g.grow(5, 0), g.grow(12, 0)
	dir := t.TempDir()
	w, wvkey := newWitness(t, "witness.test/w1", logVerifier(t, signer), dir)
	wv, err := fnote.NewVerifierForCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}

	hw := httptest.NewRecorder()
	w.ServeHTTP(hw, httptest.NewRequest("GET", "/healthz", nil))
	if hw.Code != 200 || hw.Body.String() != "ok: witnessing 1 logs\n" {
		t.Errorf("healthz: %d %q", hw.Code, hw.Body)
	}
	gw := httptest.NewRecorder()
	w.ServeHTTP(gw, httptest.NewRequest("GET", "/add-checkpoint", nil))
	if gw.Code != 405 {
		t.Errorf("GET /add-checkpoint: %d, want 405", gw.Code)
	}
	code, _, sig := post(t, w, FormatRequest(0, nil, cp5.Note))
	if code != 200 {
		t.Fatalf("first checkpoint: %d %s", code, sig)
	}
	if n, err := note.Open(append(bytes.Clone(cp5.Note), sig...), note.VerifierList(wv)); err != nil || len(n.Sigs) != 1 {
		t.Fatalf("cosignature %q does not verify: %v", sig, err)
	}
	if _, err := note.Open(append(bytes.Clone(cp5.Note), sig...), note.VerifierList(logVerifier(t, signer))); err != nil {
		t.Fatalf("the log's own signature no longer verifies: %v", err)
	}
	code, ct, body := post(t, w, FormatRequest(0, nil, cp12.Note))
	if code != 409 || ct != ContentTypeSize || string(body) != "5\n" {
		t.Fatalf("stale old size: %d %s %q, want 409 %s 5", code, ct, body, ContentTypeSize)
	}
	if code, _, body := post(t, w, FormatRequest(5, g.proof(5, 12), cp12.Note)); code != 200 {
		t.Fatalf("5 -> 12: %d %s", code, body)
	}

	// A fork: another ledger under the same key, sharing nothing after
	// entry 12 of its own... and nothing with this one at all.
	fork := newTestLog(t, signer)
	fcp12 := fork.grow(12, 1000)
	fcp30 := fork.grow(30, 1000)
	cp30 := g.grow(30, 0)
	bad := g.proof(12, 30)
	bad[0][0] ^= 1
	for _, c := range []struct {
		name string
		body []byte
		want int
	}{
		{"bad proof", FormatRequest(12, bad, cp30.Note), 422},
		{"the fork's checkpoint, with its own valid proof", FormatRequest(12, fork.proof(12, 30), fcp30.Note), 422},
		{"the fork at the same size", FormatRequest(12, nil, fcp12.Note), 422},
		{"a smaller checkpoint", FormatRequest(12, nil, cp5.Note), 400},
		{"a proof from size 0", FormatRequest(0, g.proof(5, 12), cp5.Note), 409},
		{"malformed", []byte("old x\n\n" + string(cp30.Note)), 400},
		{"no blank line", []byte("old 12\n"), 400},
	} {
		if code, _, body := post(t, w, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	other, _ := newSigner(t, origin)
	forged, err := note.Sign(&note.Note{Text: strings.SplitN(string(cp30.Note), "\n\n", 2)[0] + "\n"}, other)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, body := post(t, w, FormatRequest(12, g.proof(12, 30), forged)); code != 403 {
		t.Errorf("another key's signature: %d %s, want 403", code, body)
	}
	unknown, _ := newSigner(t, "liuhen.test/unknown")
	un, _ := note.Sign(&note.Note{Text: "liuhen.test/unknown\n1\n" + strings.Repeat("A", 43) + "=\n"}, unknown)
	if code, _, body := post(t, w, FormatRequest(0, nil, un)); code != 404 {
		t.Errorf("unknown log: %d %s, want 404", code, body)
	}
	if code, _, body := post(t, w, FormatRequest(12, nil, cp12.Note)); code != 200 {
		t.Errorf("the same checkpoint again: %d %s", code, body)
	}

	// After a restart the witness still holds 12, and goes on from it.
	w2, _ := newWitness(t, "witness.test/w1", logVerifier(t, signer), dir)
	if code, _, body := post(t, w2, FormatRequest(0, nil, cp30.Note)); code != 409 || string(body) != "12\n" {
		t.Fatalf("after restart: %d %q, want 409 12", code, body)
	}
	if code, _, body := post(t, w2, FormatRequest(12, g.proof(12, 30), cp30.Note)); code != 200 {
		t.Fatalf("12 -> 30 after restart: %d %s", code, body)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("state directory holds %d files, want 1", len(es))
	}
}

// TestSubmitter: the log's submitter gets the policy's quorum of
// cosignatures on its latest checkpoint, from real witnesses over HTTP,
// recovering from a witness that knows a later size than it assumed, and
// keeps the cosigned checkpoint across a restart; a policy it cannot
// satisfy leaves nothing witnessed.
func TestSubmitter(t *testing.T) {
	signer, _ := newSigner(t, origin)
	g := newTestLog(t, signer)
	g.grow(7, 0)
	var lines []string
	var verifiers []note.Verifier
	for i := range 2 {
		w, vkey := newWitness(t, fmt.Sprintf("witness.test/w%d", i), logVerifier(t, signer), t.TempDir())
		srv := httptest.NewServer(w)
		t.Cleanup(srv.Close)
		lines = append(lines, fmt.Sprintf("witness w%d %s %s", i, vkey, srv.URL))
		v, _ := fnote.NewVerifierForCosignatureV1(vkey)
		verifiers = append(verifiers, v)
		if i == 1 {
			// This witness has seen size 7 already.
			cp, _ := g.l.CheckpointCovering(context.Background(), 7)
			if code, _, body := post(t, w, FormatRequest(0, nil, cp.Note)); code != 200 {
				t.Fatalf("pre-seeding: %d %s", code, body)
			}
		}
	}
	policy := strings.Join(lines, "\n") + "\ngroup all-of-them all w0 w1\nquorum all-of-them\n"
	path := filepath.Join(t.TempDir(), "witnessed.checkpoint")
	s, err := NewSubmitter(SubmitterConfig{Ledger: g.l, Policy: []byte(policy), Path: path, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cp := g.grow(20, 0)
	if err := s.Round(context.Background(), cp); err != nil {
		t.Fatalf("Round: %v", err)
	}
	got := s.Witnessed()
	n, err := note.Open(got, note.VerifierList(append([]note.Verifier{logVerifier(t, signer)}, verifiers...)...))
	if err != nil || len(n.Sigs) != 3 {
		t.Fatalf("witnessed checkpoint: %d signatures, %v\n%s", len(n.Sigs), err, got)
	}
	c, err := ledger.OpenCheckpoint(got, origin, logVerifier(t, signer))
	if err != nil || c.Size != 20 {
		t.Fatalf("witnessed size: %+v %v", c, err)
	}

	// Run follows the ledger.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	g.grow(33, 0)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := ledger.OpenCheckpoint(s.Witnessed(), origin, logVerifier(t, signer)); err == nil && c.Size == 33 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not witness size 33 within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Kept across a restart.
	s2, err := NewSubmitter(SubmitterConfig{Ledger: g.l, Policy: []byte(policy), Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s2.Witnessed(), s.Witnessed()) {
		t.Fatal("the witnessed checkpoint was not kept")
	}

	// A policy naming a witness that is not there is not satisfied.
	dead := strings.Join(lines, "\n") + "\nwitness w9 " + strings.Fields(lines[0])[2] + " http://127.0.0.1:1\ngroup all-three all w0 w1 w9\nquorum all-three\n"
	s3, err := NewSubmitter(SubmitterConfig{Ledger: g.l, Policy: []byte(dead), Path: filepath.Join(t.TempDir(), "w")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Round(context.Background(), cp); err == nil || s3.Witnessed() != nil {
		t.Fatalf("Round with an unreachable witness in an all-group: %v", err)
	}
}

// FuzzParseRequest: any body parses or is refused without panicking, and
// what parses formats back to the same bytes.
func FuzzParseRequest(f *testing.F) {
	h := bytes.Repeat([]byte{7}, 32)
	f.Add(FormatRequest(0, nil, []byte("liuhen.test/x\n1\nAAAA\n\n— liuhen.test/x AAAA\n")))
	f.Add(FormatRequest(12, [][]byte{h, h}, []byte("cp\n")))
	f.Add([]byte("old 1\n\n"))
	f.Add([]byte("old 01\n\ncp"))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, hashes, cp, err := ParseRequest(b)
		if err != nil {
			return
		}
		if len(cp) == 0 || len(hashes) > 63 {
			t.Fatalf("accepted %d hashes and a checkpoint of %d bytes", len(hashes), len(cp))
		}
		if again := FormatRequest(old, hashes, cp); !bytes.Equal(again, b) {
			t.Fatalf("round trip:\n%q\n%q", b, again)
		}
	})
}
