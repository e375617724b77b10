package api

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tlogproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/liuhen/liuhen/ledger"
)

// seed appends n records over two cases and two devices and returns them.
func seed(t testing.TB, f *fixture, n int) []string {
	t.Helper()
	var recs []string
	for i := range n {
		dev, caseID := "ZFY-1", "0193f09e-1111-7000-8000-000000000001"
		if i%3 == 2 {
			dev = "ZFY-2"
		}
		if i%2 == 1 {
			caseID = "0193f09e-1111-7000-8000-000000000002"
		}
		recs = append(recs, rec("inspection.recorded", dev, map[string]any{"case_id": caseID, "device": map[string]any{"id": dev, "seq": i}}))
	}
	for _, dev := range []string{"ZFY-1", "ZFY-2"} {
		var mine []string
		for _, r := range recs {
			if strings.Contains(r, `"id":"`+dev+`"`) {
				mine = append(mine, r)
			}
		}
		w := f.do(req{method: "POST", path: "/v1/events", who: map[string]string{"ZFY-1": "device", "ZFY-2": "device2"}[dev],
			body: []byte(strings.Join(mine, "\n")), header: map[string]string{"Content-Type": "application/x-ndjson"}})
		for _, r := range results(t, w) {
			if r.Status != StatusAccepted {
				t.Fatalf("seed: %+v", r)
			}
		}
	}
	return recs
}

func TestReads(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 12)
	size := f.l.Head().Size

	// The log, paged, is the exact stored bytes.
	var all [][]byte
	from := "0"
	for from != "" {
		w := f.do(req{method: "GET", path: "/v1/events?limit=5&from=" + from, who: "auditor"})
		if w.Code != 200 || w.Header().Get(hdrSize) != strconv.FormatUint(size, 10) {
			t.Fatalf("GET /v1/events = %d %v", w.Code, w.Header())
		}
		all = append(all, lines(w.Body.Bytes())...)
		from = w.Header().Get(hdrNext)
	}
	if uint64(len(all)) != size {
		t.Fatalf("paged read got %d entries, want %d", len(all), size)
	}
	for i, b := range all {
		want, _ := f.l.EntryAt(uint64(i))
		if !bytes.Equal(b, want) {
			t.Errorf("entry %d differs from the stored bytes", i)
		}
		e, err := ledger.DecodeEntry(b)
		if err != nil || e.Seq != uint64(i) {
			t.Fatalf("entry %d: %v", i, err)
		}
		// By seq and by id: the same bytes.
		w := f.do(req{method: "GET", path: fmt.Sprintf("/v1/events/%d", i), who: "admin"})
		if !bytes.Equal(w.Body.Bytes(), b) {
			t.Errorf("GET /v1/events/%d differs", i)
		}
		w = f.do(req{method: "GET", path: "/v1/events/by-id/" + e.ID.String(), who: "auditor"})
		if !bytes.Equal(w.Body.Bytes(), b) {
			t.Errorf("GET by-id %s differs", e.ID)
		}
	}

	// A case's entries come in case_seq order, paged by case_seq.
	caseID := "0193f09e-1111-7000-8000-000000000002"
	w := f.do(req{method: "GET", path: "/v1/cases/" + caseID + "/events?limit=4", who: "auditor"})
	page1 := lines(w.Body.Bytes())
	w = f.do(req{method: "GET", path: "/v1/cases/" + caseID + "/events?from=" + w.Header().Get(hdrNext), who: "auditor"})
	got := append(page1, lines(w.Body.Bytes())...)
	if len(got) != 6 || w.Header().Get(hdrNext) != "" {
		t.Fatalf("case read: %d entries, next %q", len(got), w.Header().Get(hdrNext))
	}
	for i, b := range got {
		e, _ := ledger.DecodeEntry(b)
		if e.CaseSeq != uint64(i+1) || e.CaseID.String() != caseID {
			t.Errorf("case entry %d has case_seq %d case %s", i, e.CaseSeq, e.CaseID)
		}
	}

	// A device's entries in ledger order.
	w = f.do(req{method: "GET", path: "/v1/devices/ZFY-2/events", who: "auditor"})
	dev := lines(w.Body.Bytes())
	if len(dev) != 4 {
		t.Fatalf("device read: %d entries, want 4", len(dev))
	}
	var last uint64
	for i, b := range dev {
		e, _ := ledger.DecodeEntry(b)
		if e.DeviceID != "ZFY-2" || (i > 0 && e.Seq <= last) {
			t.Errorf("device entry %d: %s seq %d", i, e.DeviceID, e.Seq)
		}
		last = e.Seq
	}

	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/v1/events/99", 404},
		{"/v1/events/x", 400},
		{"/v1/events/by-id/nope", 400},
		{"/v1/events/by-id/0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b61", 404},
		{"/v1/events?limit=0", 400},
		{"/v1/events?limit=10001", 400},
		{"/v1/events?from=-1", 400},
		{"/v1/events?from=99", 200},
		{"/v1/cases/nope/events", 400},
		{"/v1/events/1/nothing", 404},
		{"/v1/events/99/media", 404},
	} {
		if w := f.do(req{method: "GET", path: tt.path, who: "auditor"}); w.Code != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, w.Code, tt.status)
		}
	}
}

func unhex(t testing.TB, ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestProofs checks the proofs the API serves with an independent RFC 6962
// implementation (transparency-dev/merkle) against signed checkpoints.
func TestProofs(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 5)
	seed(t, f, 6)
	size := f.l.Head().Size
	waitFor(t, "a checkpoint at the head", func() bool { return f.l.Checkpoint().Size == size })

	w := f.do(req{method: "GET", path: "/v1/checkpoint"})
	cp, err := ledger.OpenCheckpoint(w.Body.Bytes(), testOrigin, f.l.Verifier())
	if err != nil || cp.Size != size {
		t.Fatalf("checkpoint: %v %+v", err, cp)
	}
	for seq := range size {
		var ip inclusionAnswer
		mustJSON(t, f.do(req{method: "GET", path: fmt.Sprintf("/v1/proofs/inclusion?seq=%d", seq)}).Body.Bytes(), &ip)
		if ip.Size != size || ip.Root != ledger.Hex(cp.Root) {
			t.Fatalf("inclusion default size %d root %s, want the checkpoint's", ip.Size, ip.Root)
		}
		b, _ := f.l.EntryAt(seq)
		leaf := ledger.LeafHash(b)
		if ip.Leaf != ledger.Hex(leaf) {
			t.Errorf("leaf %d = %s, want %s", seq, ip.Leaf, ledger.Hex(leaf))
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, size, leaf[:], unhex(t, ip.Proof...), cp.Root[:]); err != nil {
			t.Errorf("inclusion proof of %d: %v", seq, err)
		}
	}
	// Consistency from every earlier checkpoint to the latest.
	for from := uint64(1); from < size; from++ {
		w := f.do(req{method: "GET", path: fmt.Sprintf("/v1/checkpoints?size=%d", from)})
		if w.Code == 404 {
			continue // no checkpoint signed at that size
		}
		old, err := ledger.OpenCheckpoint(w.Body.Bytes(), testOrigin, f.l.Verifier())
		if err != nil || old.Size != from {
			t.Fatalf("checkpoint %d: %v", from, err)
		}
		var cpf consistencyAnswer
		mustJSON(t, f.do(req{method: "GET", path: fmt.Sprintf("/v1/proofs/consistency?from=%d", from)}).Body.Bytes(), &cpf)
		if cpf.FromRoot != ledger.Hex(old.Root) || cpf.ToRoot != ledger.Hex(cp.Root) {
			t.Errorf("consistency roots %s %s", cpf.FromRoot, cpf.ToRoot)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, from, size, unhex(t, cpf.Proof...), old.Root[:], cp.Root[:]); err != nil {
			t.Errorf("consistency %d→%d: %v", from, size, err)
		}
	}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/v1/checkpoints", 400},
		{"/v1/checkpoints?size=x", 400},
		{fmt.Sprintf("/v1/checkpoints?size=%d", size+5), 404},
		{"/v1/proofs/inclusion", 400},
		{fmt.Sprintf("/v1/proofs/inclusion?seq=%d", size), 400},
		{fmt.Sprintf("/v1/proofs/inclusion?seq=0&size=%d", size+1), 400},
		{"/v1/proofs/consistency?from=0", 400},
		{fmt.Sprintf("/v1/proofs/consistency?from=%d&to=2", size), 400},
		{fmt.Sprintf("/v1/proofs/consistency?from=2&to=%d", size+1), 400},
		{fmt.Sprintf("/v1/proofs/consistency?from=%d", size), 200},
		{"/v1/events/99/receipt", 404},
	} {
		if w := f.do(req{method: "GET", path: tt.path}); w.Code != tt.status {
			t.Errorf("GET %s = %d %s, want %d", tt.path, w.Code, w.Body, tt.status)
		}
	}
}

// TestReceipt verifies a receipt offline, as a device or court would: the
// tlog-proof parses, its checkpoint verifies with the log's key, and the
// entry's bytes are included at its index.
func TestReceipt(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 7)
	for seq := range f.l.Head().Size {
		w := f.do(req{method: "GET", path: fmt.Sprintf("/v1/events/%d/receipt", seq), who: "device"})
		if w.Code != 200 {
			t.Fatalf("receipt %d = %d %s", seq, w.Code, w.Body)
		}
		checkReceipt(t, f, seq, w.Body.Bytes())
	}
}

// checkReceipt verifies a receipt of entry seq offline and returns its
// checkpoint note.
func checkReceipt(t *testing.T, f *fixture, seq uint64, b []byte) []byte {
	t.Helper()
	var p tlogproof.TLogProof
	if err := p.Unmarshal(b); err != nil {
		t.Fatalf("receipt %d: %v\n%s", seq, err, b)
	}
	cp, err := ledger.OpenCheckpoint(p.Checkpoint, testOrigin, f.l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	entry, _ := f.l.EntryAt(seq)
	leaf := ledger.LeafHash(entry)
	hs := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hs[i] = p.Hashes[i][:]
	}
	if p.Index != seq || cp.Size <= seq {
		t.Errorf("receipt %d: index %d, checkpoint size %d", seq, p.Index, cp.Size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, cp.Size, leaf[:], hs, cp.Root[:]); err != nil {
		t.Errorf("receipt %d does not verify: %v", seq, err)
	}
	return p.Checkpoint
}

func TestVerifyEndpoint(t *testing.T) {
	f := newFixture(t)
	seed(t, f, 4)
	var v verifyAnswer
	w := f.do(req{method: "GET", path: "/v1/verify", who: "auditor"})
	mustJSON(t, w.Body.Bytes(), &v)
	if w.Code != 200 || !v.OK || v.Size != 4 || v.Cases != 2 {
		t.Errorf("verify = %d %+v", w.Code, v)
	}
}

// TestCheckpointCoversAcknowledged: GET /v1/checkpoint covers every entry
// acknowledged before it, although the ledger signs at most once per
// checkpoint interval; a ledger that will not sign in time gets the latest
// one after ReceiptWait.
func TestCheckpointCoversAcknowledged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		wait     time.Duration
		covered  bool
	}{{"within the interval", 300 * time.Millisecond, 30 * time.Second, true}, {"past ReceiptWait", time.Hour, 50 * time.Millisecond, false}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.ReceiptWait = tc.wait })
			if err := f.l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err := ledger.Open(ledger.Config{Dir: filepath.Join(f.dir, "ledger"), Signer: f.signer, CheckpointInterval: tc.interval})
			if err != nil {
				t.Fatal(err)
			}
			f.l, f.cfg.Ledger, f.cfg.Registry = l, l, nil
			if f.srv, err = New(f.cfg); err != nil {
				t.Fatal(err)
			}
			seed(t, f, 3) // the first commit, after a quiet spell, is signed at once
			waitFor(t, "the first checkpoint", func() bool { return f.l.Checkpoint().Size > 0 })
			first := f.l.Checkpoint().Size
			seed(t, f, 3) // within the interval
			size := f.l.Head().Size
			w := f.do(req{method: "GET", path: "/v1/checkpoint"})
			cp, err := ledger.OpenCheckpoint(w.Body.Bytes(), testOrigin, f.l.Verifier())
			if err != nil {
				t.Fatal(err)
			}
			if tc.covered && cp.Size != size {
				t.Errorf("checkpoint of size %d after %d entries were acknowledged", cp.Size, size)
			}
			if !tc.covered && (cp.Size != first || first == size) {
				t.Errorf("checkpoint of size %d, want the latest signed, %d, short of %d", cp.Size, first, size)
			}
		})
	}
}
