package ledger

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// TestChainVerifierRecordedAtOrder: equal recorded_at is fine, an earlier
// one is refused and named with both times, and the verifier stays at the
// entry before; the tree it computes is tlog's.
func TestChainVerifierRecordedAtOrder(t *testing.T) {
	t0 := time.Date(2025, 5, 12, 1, 2, 3, 456000, time.UTC)
	v := NewChainVerifier()
	var prev Hash
	var leaves []Hash
	for i, at := range []time.Time{t0, t0, t0.Add(time.Microsecond), t0.Add(time.Second)} {
		b := []byte{byte('a' + i)}
		if err := v.AddDecoded(&Entry{Seq: uint64(i), RecordedAt: at, Prev: prev, Bytes: b}); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		prev = LeafHash(b)
		leaves = append(leaves, prev)
	}
	err := v.AddDecoded(&Entry{Seq: 4, RecordedAt: t0.Add(time.Second - time.Microsecond), Prev: prev, Bytes: []byte("e")})
	ce, ok := err.(*ChainError)
	if !ok || ce.Seq != 4 || ce.What != "recorded_at went backwards" || ce.Want != ">= 2025-05-12T01:02:04.000456Z" || ce.Got != "2025-05-12T01:02:04.000455Z" {
		t.Fatalf("backwards: %v", err)
	}
	if v.Size() != 4 || v.LastHash() != prev {
		t.Fatalf("after a refused entry the verifier is at %d", v.Size())
	}
	want, err := treeOf(leaves)
	if err != nil || v.Root() != want {
		t.Fatalf("root %x, tlog's %x (%v)", v.Root(), want, err)
	}
}

// treeOf is the tlog root of leaves, from tlog's own stored hashes.
func treeOf(leaves []Hash) (Hash, error) {
	var stored []Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, r)
		if err != nil {
			return Hash{}, err
		}
		stored = append(stored, hs...)
	}
	return tlog.TreeHash(int64(len(leaves)), r)
}

// TestChainVerifierTreeIsTlogs: at every size up to 300, the root and the
// stored hashes of each Add are tlog's.
func TestChainVerifierTreeIsTlogs(t *testing.T) {
	v := NewChainVerifier()
	var prev Hash
	var leaves []Hash
	for i := range 300 {
		b := []byte(fmt.Sprint(i))
		if err := v.AddDecoded(&Entry{Seq: uint64(i), Prev: prev, Bytes: b}); err != nil {
			t.Fatal(err)
		}
		prev = LeafHash(b)
		leaves = append(leaves, prev)
		want, err := treeOf(leaves)
		if err != nil || v.Root() != want {
			t.Fatalf("size %d: root %x, tlog's %x (%v)", i+1, v.Root(), want, err)
		}
	}
}
