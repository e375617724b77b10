package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tproof "github.com/transparency-dev/formats/proof"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/internal/benchutil"
	"github.com/liuhen/liuhen/ledger"
)

const (
	testOrigin = "liuhen.test/bundle"
	caseA      = "0193f09e-1111-7000-8000-000000000042"
	caseB      = "0193f09e-1111-7000-8000-000000000043"
)

// testLog is a real ledger with a case, a linked recording, another case
// and an export's custody entry, as the server writes them.
type testLog struct {
	l     *ledger.Ledger
	vkey  string
	media []byte
}

func newTestLog(t testing.TB, extra int) *testLog {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Create(ledger.Config{Dir: filepath.Join(t.TempDir(), "ledger"), Origin: testOrigin, Signer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	tl := &testLog{l: l, vkey: vkey, media: []byte("body camera footage, 执法记录仪")}
	sha := sha256.Sum256(tl.media)
	off := `"officers":[{"id":"O-1","cert_no":"1","name":"王某"},{"id":"O-2","cert_no":"2","name":"李某"}]`
	recs := []string{
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000001","type":"recording.made","occurred_at":"2025-05-12T09:00:00+08:00","device":{"id":"ZFY-1"},` + off + `,"data":{"started_at":"2025-05-12T09:00:00+08:00","ended_at":"2025-05-12T09:10:00+08:00","interruptions":[]},"media":[{"sha256":"` + hex.EncodeToString(sha[:]) + `","size":36,"content_type":"video/mp4"}]}`,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000002","type":"case.registered","case_id":"` + caseA + `","occurred_at":"2025-05-12T09:20:00+08:00","device":{"id":"YDZF-1"},"data":{"source":"patrol","summary":"占道经营"}}`,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000003","type":"inspection.recorded","case_id":"` + caseB + `","occurred_at":"2025-05-12T09:25:00+08:00","device":{"id":"ZFY-2"},` + off + `,"data":{"findings":"乱扔垃圾"}}`,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000004","type":"inspection.recorded","case_id":"` + caseA + `","occurred_at":"2025-05-12T09:31:02+08:00","device":{"id":"ZFY-1"},` + off + `,"data":{"findings":"当事人在人行道上摆摊经营水果"}}`,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000005","type":"recording.linked","case_id":"` + caseA + `","occurred_at":"2025-05-12T10:00:00+08:00","device":{"id":"YDZF-1"},"data":{"case_id":"` + caseA + `","events":["0193f0a2-7c1e-7b3a-9d55-000000000001"]}}`,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000006","type":"payment.received","case_id":"` + caseA + `","occurred_at":"2025-05-20T10:00:00+08:00","device":{"id":"CW-1"},"data":{"amount_fen":20000,"receipt_no":"R1"}}`,
	}
	for i := range extra {
		recs = append(recs, fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-%012d","occurred_at":"2025-06-01T10:00:00+08:00","device":{"id":"ZFY-3"},"data":{"findings":"巡查 %d"}}`, 1000+i, 1000+i%97, i))
	}
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		raw := make([][]byte, n)
		for i := range n {
			raw[i] = []byte(recs[i])
		}
		res, err := l.Append(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != ledger.Accepted {
				t.Fatalf("append: %v %v", r.Status, r.Err)
			}
		}
		recs = recs[n:]
	}
	return tl
}

// export appends the custody entry of an export, as POST /v1/exports does,
// and stages the bundle's files in a directory.
func (tl *testLog) export(t testing.TB, scope string, media bool) string {
	t.Helper()
	l := tl.l
	size := l.Head().Size
	var seqs []uint64
	if scope == ScopeCase {
		seqs = []uint64{0, 1, 3, 4, 5}
	} else {
		for s := range size {
			seqs = append(seqs, s)
		}
	}
	h := sha256.New()
	for _, s := range seqs {
		b, err := l.EntryAt(s)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(append(b, '\n'))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ms := []string{sum}
	msha := sha256.Sum256(tl.media)
	if media {
		ms = append(ms, hex.EncodeToString(msha[:]))
	}
	data := map[string]any{"actor": "test auditor", "purpose": "行政诉讼举证", "access": "export", "scope": scope,
		"size": size, "entries": len(seqs), "entries_sha256": sum, "media": ms}
	if scope == ScopeCase {
		data["case_id"] = caseA
	}
	rec, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("0193f0a2-7c1e-7b3a-9d55-9%011d", size), "type": "custody.accessed",
		"occurred_at": "2025-06-02T10:00:00+08:00", "device": map[string]any{"id": "liuhen-server"}, "data": data})
	res, err := l.Append(context.Background(), [][]byte{rec})
	if err != nil || res[0].Status != ledger.Accepted {
		t.Fatalf("custody: %v %+v", err, res)
	}
	cs := res[0].Seq
	cp, err := l.CheckpointCovering(context.Background(), cs+1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	put := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	custody, _ := l.EntryAt(cs)
	put(FileKey, []byte(tl.vkey+"\n"))
	put(FileCheckpoint, cp.Note)
	put(FileCustody, append(custody, '\n'))
	var entries []byte
	if scope == ScopeAll {
		seqs = nil
		for s := range cp.Size {
			seqs = append(seqs, s)
		}
	}
	for _, s := range seqs {
		b, _ := l.EntryAt(s)
		entries = append(append(entries, b...), '\n')
	}
	put(FileEntries, entries)
	if scope == ScopeCase {
		for _, s := range append(seqs, cs) {
			p, err := l.InclusionProof(s, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			tp := tproof.TLogProof{Index: s, Checkpoint: cp.Note, Hashes: make([][32]byte, len(p))}
			for i, x := range p {
				tp.Hashes[i] = x
			}
			put(ProofPath(s), tp.Marshal())
		}
	}
	if media {
		put(MediaPath(hex.EncodeToString(msha[:]), "video/mp4"), tl.media)
	}
	return dir
}

func pack(t testing.TB, dir, format string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle."+format)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(f, format, "liuhen-case-x", dir); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return out
}

func verify(t testing.TB, path, vkey string) *Report {
	t.Helper()
	rep, err := Verify(context.Background(), path, vkey, Options{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestBundleVerifies(t *testing.T) {
	tl := newTestLog(t, 0)
	for _, tc := range []struct {
		scope string
		media bool
	}{{ScopeCase, true}, {ScopeCase, false}, {ScopeAll, false}, {ScopeAll, true}} {
		dir := tl.export(t, tc.scope, tc.media)
		for _, format := range []string{"zip", "tar"} {
			rep := verify(t, pack(t, dir, format), tl.vkey)
			if len(rep.Problems) != 0 {
				t.Errorf("%s %s media=%v: %v", tc.scope, format, tc.media, rep.Problems)
			}
			if rep.Scope != tc.scope || rep.Origin != testOrigin || rep.Custody == nil {
				t.Errorf("%s %s: report %+v", tc.scope, format, rep)
			}
		}
	}
	// Packing is deterministic: the same files give the same bytes.
	dir := tl.export(t, ScopeCase, true)
	a, _ := os.ReadFile(pack(t, dir, "tar"))
	b, _ := os.ReadFile(pack(t, dir, "tar"))
	if !bytes.Equal(a, b) {
		t.Error("packing the same files twice gave different archives")
	}
}

// archive is a bundle's files, in archive order, for tampering.
type archive struct {
	names []string
	files map[string][]byte
}

func readTar(t testing.TB, path string) *archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := &archive{files: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return a
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		a.names = append(a.names, h.Name)
		a.files[h.Name] = b
	}
}

func (a *archive) write(t testing.TB, format string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tampered."+format)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	switch format {
	case "tar":
		tw := tar.NewWriter(f)
		for _, n := range a.names {
			tw.WriteHeader(&tar.Header{Name: n, Size: int64(len(a.files[n])), Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write(a.files[n])
		}
		tw.Close()
	case "zip":
		zw := zip.NewWriter(f)
		for _, n := range a.names {
			w, _ := zw.Create(n)
			w.Write(a.files[n])
		}
		zw.Close()
	}
	return out
}

func (a *archive) clone() *archive {
	c := &archive{names: append([]string(nil), a.names...), files: map[string][]byte{}}
	for k, v := range a.files {
		c.files[k] = bytes.Clone(v)
	}
	return c
}

func (a *archive) find(prefix string) string {
	for _, n := range a.names {
		if strings.HasPrefix(n[strings.IndexByte(n, '/')+1:], prefix) {
			return n
		}
	}
	return ""
}

func (a *archive) drop(name string) {
	for i, n := range a.names {
		if n == name {
			a.names = append(a.names[:i], a.names[i+1:]...)
		}
	}
	delete(a.files, name)
}

func (a *archive) add(name string, b []byte) {
	a.names = append(a.names, name)
	a.files[name] = b
}

// mentions reports whether some problem names what.
func mentions(rep *Report, what string) bool {
	for _, p := range rep.Problems {
		if strings.Contains(p.String(), what) {
			return true
		}
	}
	return false
}

// TestBundleTampering: for each kind of file, a changed byte, a dropped
// file and an added file are found and the file named; so are reordered
// entries. Whole-log bundles too.
func TestBundleTampering(t *testing.T) {
	tl := newTestLog(t, 0)
	for _, scope := range []string{ScopeCase, ScopeAll} {
		orig := readTar(t, pack(t, tl.export(t, scope, true), "tar"))
		kinds := []string{FileManifest, FileSums, FileVerify, FileList, FileKey, FileCheckpoint, FileCustody, FileEntries, DirMedia}
		if scope == ScopeCase {
			kinds = append(kinds, DirProofs)
		}
		for _, kind := range kinds {
			name := orig.find(kind)
			rel := name[strings.IndexByte(name, '/')+1:]
			for _, format := range []string{"tar", "zip"} {
				t.Run(scope+"/"+rel+"/"+format, func(t *testing.T) {
					a := orig.clone()
					b := a.files[name]
					b[len(b)/2] ^= 0x01
					rep := verify(t, a.write(t, format), tl.vkey)
					if !mentions(rep, rel) {
						t.Errorf("changed byte %d of %s: problems %v do not name it", len(b)/2, rel, rep.Problems)
					}

					a = orig.clone()
					a.drop(name)
					if rep := verify(t, a.write(t, format), tl.vkey); !mentions(rep, rel) {
						t.Errorf("dropped %s: problems %v do not name it", rel, rep.Problems)
					}
				})
			}
		}
		for _, added := range []string{"notes.txt", "proofs/000000000099.tlog-proof", "media/" + strings.Repeat("ab", 32) + ".bin"} {
			a := orig.clone()
			a.add(a.names[0][:strings.IndexByte(a.names[0], '/')+1]+added, []byte("extra\n"))
			if rep := verify(t, a.write(t, "tar"), tl.vkey); !mentions(rep, added) {
				t.Errorf("%s: added %s: problems %v do not name it", scope, added, rep.Problems)
			}
		}
		// Reorder two entries.
		a := orig.clone()
		en := a.find(FileEntries)
		lines := bytes.SplitAfter(a.files[en], []byte("\n"))
		lines[1], lines[2] = lines[2], lines[1]
		a.files[en] = bytes.Join(lines, nil)
		rep := verify(t, a.write(t, "tar"), tl.vkey)
		if !mentions(rep, FileEntries) || !mentions(rep, "reordered") {
			t.Errorf("%s: reordered entries: %v", scope, rep.Problems)
		}
		// Swap two proofs' bytes.
		if scope == ScopeCase {
			a := orig.clone()
			p0, p1 := a.find(ProofPath(0)), a.find(ProofPath(1))
			a.files[p0], a.files[p1] = a.files[p1], a.files[p0]
			if rep := verify(t, a.write(t, "tar"), tl.vkey); !mentions(rep, ProofPath(0)) {
				t.Errorf("swapped proofs: %v", rep.Problems)
			}
		}
	}
}

// TestBundleOtherKey: a bundle is checked against the key the auditor
// trusts, not the one it carries.
func TestBundleOtherKey(t *testing.T) {
	tl := newTestLog(t, 0)
	path := pack(t, tl.export(t, ScopeCase, false), "zip")
	_, other, _ := ledger.GenerateKey(testOrigin)
	rep := verify(t, path, other)
	if !mentions(rep, FileKey) || !mentions(rep, FileCheckpoint) {
		t.Errorf("another key: %v", rep.Problems)
	}
}

// BenchmarkVerifyAll: offline verification of a whole-log bundle; see
// docs/performance.md. -entries sets the log's size.
func BenchmarkVerifyAll(b *testing.B) {
	tl := newTestLog(b, benchEntries)
	path := pack(b, tl.export(b, ScopeAll, false), "tar")
	b.ResetTimer()
	cpu := benchutil.CPUTime().Seconds()
	for range b.N {
		rep := verify(b, path, tl.vkey)
		if len(rep.Problems) > 0 {
			b.Fatal(rep.Problems)
		}
	}
	b.ReportMetric(float64(b.N)*float64(benchEntries+7)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric((benchutil.CPUTime().Seconds()-cpu)*1e6/(float64(b.N)*float64(benchEntries+7)), "cpu-µs/entry")
}

var benchEntries = 100000

func mustVerifier(t testing.TB, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
