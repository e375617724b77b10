package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tproof "github.com/transparency-dev/formats/proof"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/witness"
)

// ledgerSource is a LogSource over a testLog's real ledger, recording the
// export as POST /v1/exports does; alter, if set, changes what it answers,
// as a lying or broken server would.
type ledgerSource struct {
	tl    *testLog
	alter func(what string, seq uint64, b []byte) []byte
	// witness, if set, cosigns the checkpoints of witnessed receipts; wsize
	// is the size it holds.
	witness http.Handler
	wsize   uint64
}

func (s *ledgerSource) change(what string, seq uint64, b []byte) []byte {
	if s.alter == nil {
		return b
	}
	return s.alter(what, seq, bytes.Clone(b))
}

func (s *ledgerSource) Record(ctx context.Context, req ExportRequest) (*ExportRecord, error) {
	l := s.tl.l
	size := l.Head().Size
	rec := &ExportRecord{Scope: ScopeAll, Size: size, Media: []string{}}
	if req.All {
		for seq := range size {
			rec.Entries = append(rec.Entries, seq)
		}
	} else {
		rec.Scope, rec.Entries = ScopeCase, []uint64{0, 1, 3, 4, 5}
	}
	h := sha256.New()
	for _, seq := range rec.Entries {
		b, err := l.EntryAt(seq)
		if err != nil {
			return nil, err
		}
		h.Write(append(b, '\n'))
	}
	rec.Count, rec.EntriesSHA256 = uint64(len(rec.Entries)), hex.EncodeToString(h.Sum(nil))
	if req.All {
		rec.Entries = nil
	}
	if req.Media {
		msha := sha256.Sum256(s.tl.media)
		rec.Media = []string{hex.EncodeToString(msha[:])}
	}
	data := map[string]any{"actor": "test auditor", "purpose": req.Purpose, "access": "export", "scope": rec.Scope,
		"size": size, "entries": rec.Count, "entries_sha256": rec.EntriesSHA256, "media": append([]string{rec.EntriesSHA256}, rec.Media...)}
	if !req.All {
		data["case_id"] = req.CaseID
	}
	rec.ID = fmt.Sprintf("0193f0a2-7c1e-7b3a-9d55-8%011d", size)
	raw, _ := json.Marshal(map[string]any{"id": rec.ID, "type": "custody.accessed",
		"occurred_at": "2025-06-02T10:00:00+08:00", "device": map[string]any{"id": "liuhen-server"}, "data": data})
	res, err := l.Append(ctx, [][]byte{raw})
	if err != nil {
		return nil, err
	}
	if res[0].Status != ledger.Accepted {
		return nil, fmt.Errorf("custody: %v", res[0].Status)
	}
	rec.Seq = res[0].Seq
	return rec, nil
}

func (s *ledgerSource) Receipt(ctx context.Context, seq uint64, witnessed bool) ([]byte, error) {
	cp, err := s.tl.l.CheckpointCovering(ctx, seq+1)
	if err != nil {
		return nil, err
	}
	if witnessed {
		if s.witness == nil {
			return nil, errors.New("no witness")
		}
		var hashes [][]byte
		if s.wsize > 0 && s.wsize < cp.Size {
			p, err := s.tl.l.ConsistencyProof(s.wsize, cp.Size)
			if err != nil {
				return nil, err
			}
			for _, h := range p {
				hashes = append(hashes, bytes.Clone(h[:]))
			}
		}
		w := httptest.NewRecorder()
		s.witness.ServeHTTP(w, httptest.NewRequest("POST", "/add-checkpoint", bytes.NewReader(witness.FormatRequest(s.wsize, hashes, cp.Note))))
		if w.Code != 200 {
			return nil, fmt.Errorf("witness: %d %s", w.Code, w.Body)
		}
		s.wsize = cp.Size
		cp.Note = append(bytes.Clone(cp.Note), w.Body.Bytes()...)
	}
	p, err := s.tl.l.InclusionProof(seq, cp.Size)
	if err != nil {
		return nil, err
	}
	tp := tproof.TLogProof{Index: seq, Checkpoint: cp.Note, Hashes: make([][32]byte, len(p))}
	for i, x := range p {
		tp.Hashes[i] = x
	}
	return tp.Marshal(), nil
}

func (s *ledgerSource) Entry(_ context.Context, seq uint64) ([]byte, error) {
	b, err := s.tl.l.EntryAt(seq)
	return s.change("entry", seq, b), err
}

func (s *ledgerSource) InclusionProof(_ context.Context, seq, size uint64) ([][]byte, error) {
	p, err := s.tl.l.InclusionProof(seq, size)
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out, err
}

func (s *ledgerSource) Entries(ctx context.Context, from, size uint64, w io.Writer) error {
	for seq := from; seq < size; seq++ {
		b, err := s.Entry(ctx, seq)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func (s *ledgerSource) Media(_ context.Context, sha, purpose string, w io.Writer) error {
	_, err := w.Write(s.change("media", 0, s.tl.media))
	return err
}

func exportTo(t *testing.T, ex *Exporter, req ExportRequest, format string) (string, *ExportRecord, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bundle."+format)
	var buf bytes.Buffer
	_, rec, err := ex.Export(context.Background(), req, format, &buf)
	if err != nil && buf.Len() > 0 {
		t.Errorf("a failed export wrote %d bytes", buf.Len())
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rec, err
}

// TestExporter: the bundles the Exporter packs, of a case with its media
// (zip) and of the whole log (tar), verify offline and are bound to the
// custody entry it recorded.
func TestExporter(t *testing.T) {
	tl := newTestLog(t, 0)
	ex := &Exporter{Source: &ledgerSource{tl: tl}, VKey: tl.vkey, TempDir: t.TempDir()}
	for _, tc := range []struct {
		req    ExportRequest
		format string
		scope  string
		n      uint64
		media  int
	}{
		{ExportRequest{Purpose: "行政诉讼举证", CaseID: caseA, Media: true}, "zip", ScopeCase, 5, 1},
		{ExportRequest{Purpose: "归档", All: true}, "tar", ScopeAll, 8, 0}, // 6 entries, the first export, this one
	} {
		path, rec, err := exportTo(t, ex, tc.req, tc.format)
		if err != nil {
			t.Fatalf("%s: %v", tc.scope, err)
		}
		rep := verify(t, path, tl.vkey)
		if len(rep.Problems) != 0 {
			t.Fatalf("%s: %v", tc.scope, rep.Problems)
		}
		if rep.Scope != tc.scope || rep.Entries != tc.n || rep.Media != tc.media || rep.Custody == nil || rep.Custody.Seq != rec.Seq {
			t.Errorf("%s: report %+v, custody %+v, recorded as %d", tc.scope, rep, rep.Custody, rec.Seq)
		}
	}
	if ents, _ := os.ReadDir(ex.TempDir); len(ents) != 0 {
		t.Errorf("the exporter left %d staging directories", len(ents))
	}
}

// TestExporterWitnessed: a bundle exported with Witnessed carries the
// witnesses' cosignatures in its checkpoint, every receipt the same bytes,
// and verifies against a policy they satisfy; a policy naming another
// witness finds it wanting, and a bundle without cosignatures fails any
// policy.
func TestExporterWitnessed(t *testing.T) {
	tl := newTestLog(t, 0)
	w, _, court := newTestWitness(t, tl, "witness.court.example/w1")
	_, _, other := newTestWitness(t, tl, "witness.other.example/w2")
	ex := &Exporter{Source: &ledgerSource{tl: tl, witness: w}, VKey: tl.vkey, TempDir: t.TempDir()}
	for _, req := range []ExportRequest{
		{Purpose: "行政诉讼举证", CaseID: caseA, Witnessed: true},
		{Purpose: "归档", All: true, Witnessed: true},
	} {
		path, _, err := exportTo(t, ex, req, "zip")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			policy *fwitness.Group
			ok     bool
		}{{court, true}, {other, false}} {
			rep, err := Verify(context.Background(), path, tl.vkey, Options{WitnessPolicy: c.policy})
			if err != nil {
				t.Fatal(err)
			}
			if (len(rep.Problems) == 0) != c.ok {
				t.Fatalf("all=%v, policy ok=%v: problems %v", req.All, c.ok, rep.Problems)
			}
		}
	}
	plain, _, err := exportTo(t, ex, ExportRequest{Purpose: "归档", CaseID: caseA}, "zip")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), plain, tl.vkey, Options{WitnessPolicy: court})
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].What, "not cosigned by the quorum") {
		t.Fatalf("a bundle without cosignatures against a policy: %v %v", rep.Problems, err)
	}
}

// newTestWitness returns a real witness of tl's log, its cosignature vkey,
// and a policy of it alone.
func newTestWitness(t *testing.T, tl *testLog, name string) (http.Handler, string, *fwitness.Group) {
	t.Helper()
	logV, err := note.NewVerifier(tl.vkey)
	if err != nil {
		t.Fatal(err)
	}
	wkey, _, err := ledger.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	cosigner, wvkey, err := witness.NewCosigner(wkey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.NewServer(cosigner, []note.Verifier{logV}, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := fwitness.ParsePolicy([]byte("witness w " + wvkey + " http://127.0.0.1:1/\nquorum w\n"))
	if err != nil {
		t.Fatal(err)
	}
	return w, wvkey, &p
}

// TestExporterRefusesLies: what a source sends that its signed log
// contradicts (a changed entry, a changed media file, a checkpoint under
// another key) fails the export with an ExportError naming it, before a
// byte of the bundle is written.
func TestExporterRefusesLies(t *testing.T) {
	tl := newTestLog(t, 0)
	_, otherKey, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(want string, at uint64) func(string, uint64, []byte) []byte {
		return func(what string, seq uint64, b []byte) []byte {
			if what == want && seq == at {
				b[len(b)/2] ^= 1
			}
			return b
		}
	}
	for _, tc := range []struct {
		name  string
		alter func(string, uint64, []byte) []byte
		vkey  string
		req   ExportRequest
		file  string
		seq   *uint64
	}{
		{"case entry", flip("entry", 3), tl.vkey, ExportRequest{Purpose: "p", CaseID: caseA}, "", seqp(3)},
		// A changed entry 2 breaks the chain at entry 3 (its prev).
		{"log entry", flip("entry", 2), tl.vkey, ExportRequest{Purpose: "p", All: true}, FileEntries, seqp(3)},
		{"media", flip("media", 0), tl.vkey, ExportRequest{Purpose: "p", CaseID: caseA, Media: true}, "", nil},
		{"key", nil, otherKey, ExportRequest{Purpose: "p", CaseID: caseA}, FileCheckpoint, nil},
	} {
		ex := &Exporter{Source: &ledgerSource{tl: tl, alter: tc.alter}, VKey: tc.vkey}
		_, _, err := exportTo(t, ex, tc.req, "zip")
		var ee *ExportError
		if !errors.As(err, &ee) {
			t.Errorf("%s: err = %v, want an ExportError", tc.name, err)
			continue
		}
		if tc.file != "" && ee.File != tc.file || tc.seq != nil && (ee.Seq == nil || *ee.Seq != *tc.seq) {
			t.Errorf("%s: %v, want file %q seq %v", tc.name, ee, tc.file, tc.seq)
		}
	}
}
