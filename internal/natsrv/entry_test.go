package natsrv_test

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// vectors are the ledger's golden entries.
func vectors(t testing.TB) [][]byte {
	f, err := os.Open("../../ledger/testdata/vectors/entries.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, bytes.Clone(l))
		}
	}
	if len(out) == 0 {
		t.Fatal("no vectors")
	}
	return out
}

func sameEntry(a, b *ledger.Entry) bool {
	return a.Seq == b.Seq && a.RecordedAt.Equal(b.RecordedAt) && a.Prev == b.Prev && a.CaseSeq == b.CaseSeq &&
		a.CasePrev == b.CasePrev && a.ID == b.ID && a.Type == b.Type && a.CaseID == b.CaseID &&
		a.DeviceID == b.DeviceID && a.DeviceSeq == b.DeviceSeq && bytes.Equal(a.Bytes, b.Bytes)
}

func TestScanEntryVectors(t *testing.T) {
	for _, b := range vectors(t) {
		want, err := ledger.DecodeEntry(b)
		if err != nil {
			continue // a vector of a bad entry
		}
		got, err := natsrv.ScanEntry(b)
		if err != nil {
			t.Fatalf("ScanEntry(%s) = %v", b, err)
		}
		if !sameEntry(got, want) {
			t.Errorf("ScanEntry(%s) = %+v, want %+v", b, got, want)
		}
	}
}

// FuzzScanEntry: whatever DecodeEntry accepts, ScanEntry reads the same;
// nothing panics.
func FuzzScanEntry(f *testing.F) {
	for _, b := range vectors(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"seq":0,"a":[{"b":"}\"]"}],"recorded_at":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := natsrv.ScanEntry(b)
		want, err := ledger.DecodeEntry(b)
		if err != nil {
			return
		}
		if gerr != nil {
			t.Fatalf("DecodeEntry accepts %q, ScanEntry says %v", b, gerr)
		}
		if !sameEntry(got, want) {
			t.Fatalf("ScanEntry(%q) = %+v, want %+v", b, got, want)
		}
	})
}
