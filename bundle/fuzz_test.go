package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/liuhen/liuhen/ledger"
)

// FuzzScanEntry: ScanEntry never panics, and on every entry the strict
// decoder accepts it agrees with it on everything the chain checks read.
func FuzzScanEntry(f *testing.F) {
	b, err := os.ReadFile("../ledger/testdata/vectors/entries.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"v":1,"seq":0,"recorded_at":"2020-05-12T01:31:05.001000Z","prev":"` + string(bytes.Repeat([]byte("0"), 64)) + `","case_seq":1,"case_prev":"` + string(bytes.Repeat([]byte("0"), 64)) + `","attachments":{"case_id":"x"},"case_id":"0193f09e-1111-7000-8000-000000000042","id":"0193f0a2-7c1e-7b3a-9d55-000000000001","type":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ScanEntry(b)
		want, werr := ledger.DecodeEntry(b)
		if werr != nil {
			return
		}
		if err != nil {
			t.Fatalf("ScanEntry refused an entry DecodeEntry accepts: %v\n%s", err, b)
		}
		if got.Seq != want.Seq || !got.RecordedAt.Equal(want.RecordedAt) || got.Prev != want.Prev ||
			got.CaseSeq != want.CaseSeq || got.CasePrev != want.CasePrev || got.CaseID != want.CaseID {
			t.Fatalf("ScanEntry = %+v, DecodeEntry = %+v", got, want)
		}
	})
}

// FuzzVerify: whatever the bytes of a bundle, Verify returns problems or an
// error and never panics; the untouched bundle passes. (TestBundleTampering
// holds it to naming every change in a file.)
func FuzzVerify(f *testing.F) {
	tl := newTestLog(f, 0)
	good, err := os.ReadFile(pack(f, tl.export(f, ScopeCase, true), "tar"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, 0, byte(0))
	f.Add(good, 700, byte(1))
	f.Add(good, len(good)/2, byte(0x20))
	f.Fuzz(func(t *testing.T, b []byte, at int, x byte) {
		if len(b) > 0 {
			at = (at%len(b) + len(b)) % len(b)
			b = bytes.Clone(b)
			b[at] ^= x
		}
		p := filepath.Join(t.TempDir(), "b.tar")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), p, tl.vkey, Options{})
		if bytes.Equal(b, good) && (err != nil || len(rep.Problems) > 0) {
			t.Fatalf("the untouched bundle: %v %v", err, rep.Problems)
		}
	})
}
