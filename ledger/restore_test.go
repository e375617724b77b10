package ledger

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// entriesOf returns copies of the ledger's entries [from, to).
func entriesOf(t *testing.T, l *Ledger, from, to uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for seq := from; seq < to; seq++ {
		b, err := l.EntryAt(seq)
		if err != nil {
			t.Fatalf("EntryAt(%d): %v", seq, err)
		}
		out = append(out, bytes.Clone(b))
	}
	return out
}

// TestRestore: a ledger that has the first entries of another gets the rest
// back, byte for byte, from the other's entries and checkpoints, and ends
// with the same root; entries that do not fit are refused, named, and leave
// nothing behind.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	cfgA := testConfig(t, nil)
	cfgA.Now = fixedClock()
	cfgA.CheckpointInterval = -1 // a checkpoint per commit: several to restore
	a := newTestLedger(t, cfgA)
	var batch [][]byte
	for i := range 60 {
		batch = append(batch, rec(i, i%4-1)) // cases 0, 1, 2 and no case
		if len(batch) == 7 {
			mustAppend(t, a, batch...)
			batch = batch[:0]
		}
	}
	mustAppend(t, a, batch...)
	all := entriesOf(t, a, 0, 60)

	// b holds the first 20 (as a backup would), written by Restore from
	// empty: the same bytes, the same root.
	cfgB := testConfig(t, nil)
	cfgB.Now = fixedClock()
	b := newTestLedger(t, cfgB)
	if err := b.Restore(ctx, all[:20]); err != nil {
		t.Fatalf("Restore(first 20): %v", err)
	}
	rootA20, _ := a.RootAt(20)
	if h := b.Head(); h.Size != 20 || h.Root != rootA20 {
		t.Fatalf("head after restoring 20 = %d %x, want 20 %x", h.Size, h.Root, rootA20)
	}

	refuse := func(name string, entries [][]byte, what string, seq uint64) {
		t.Helper()
		before := b.Head()
		err := b.Restore(ctx, entries)
		var re *RestoreError
		if !errors.As(err, &re) || re.What != what || re.Seq != seq {
			t.Fatalf("%s: Restore = %v, want a RestoreError for %s at seq %d", name, err, what, seq)
		}
		t.Logf("%s: %v", name, err)
		if b.Head() != before {
			t.Fatalf("%s: the head moved from %+v to %+v", name, before, b.Head())
		}
		if b.Err() != nil {
			t.Fatalf("%s: the ledger stopped: %v", name, b.Err())
		}
	}
	// A gap: entry 21 after 19.
	refuse("gap", [][]byte{all[21]}, "seq", 20)
	// A changed record in the middle of a call: it reads as a valid entry
	// of its own, but the next entry's prev names the original, and the
	// entries before it are not written either. (A changed last entry
	// can only be caught by a signed checkpoint covering it: recover
	// checks the restored root against the stream's checkpoints.)
	changed := bytes.Clone(all[21])
	i := bytes.Index(changed, []byte("门前"))
	copy(changed[i:], "店前")
	refuse("changed record", [][]byte{all[20], changed, all[22]}, "prev", 22)
	// The same entry with its prev changed.
	wrongPrev := bytes.Clone(all[20])
	j := bytes.Index(wrongPrev, []byte(`"prev":"`)) + len(`"prev":"`)
	wrongPrev[j] ^= 1
	refuse("prev", [][]byte{wrongPrev}, "prev", 20)
	// An entry already in the ledger, offered again.
	refuse("again", [][]byte{all[5]}, "recorded_at", 20)
	// A record already in the ledger (entry 4, without a case) in an entry
	// that would otherwise fit at seq 20.
	var e4, e20 Entry
	n4, _ := parsePrefix(all[4], &e4)
	parsePrefix(all[20], &e20)
	reused := encodeEntry(nil, 20, e20.RecordedAt, b.Head().LastHash, 0, Hash{}, append([]byte{'{'}, all[4][n4:]...))
	refuse("id", [][]byte{reused}, "id", 20)
	// Not an entry at all.
	if err := b.Restore(ctx, [][]byte{[]byte(`{"seq":20}`)}); err == nil {
		t.Fatal("Restore of a non-entry succeeded")
	}

	// The rest, in two calls, then a's checkpoints.
	if err := b.Restore(ctx, all[20:45]); err != nil {
		t.Fatalf("Restore(20..45): %v", err)
	}
	if err := b.Restore(ctx, all[45:]); err != nil {
		t.Fatalf("Restore(45..60): %v", err)
	}
	if h, ha := b.Head(), a.Head(); h != ha {
		t.Fatalf("head after restoring all = %+v, want a's %+v", h, ha)
	}
	if got := entriesOf(t, b, 0, 60); !slicesEqual(got, all) {
		t.Fatal("b's entries differ from a's")
	}
	if _, err := b.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	added := 0
	for size := uint64(1); size <= 60; size++ {
		cp, err := a.CheckpointAt(size)
		if err != nil {
			continue
		}
		n, err := b.AddCheckpoints(cp.Note)
		if err != nil {
			t.Fatalf("AddCheckpoints(size %d): %v", size, err)
		}
		added += n
		if again, err := b.CheckpointAt(size); err != nil || !bytes.Equal(again.Note, cp.Note) {
			t.Fatalf("CheckpointAt(%d) after AddCheckpoints = %v, %v", size, again, err)
		}
	}
	if added < 5 {
		t.Fatalf("only %d of a's checkpoints were added", added)
	}
	if cp := b.Checkpoint(); cp == nil || cp.Size != 60 {
		t.Fatalf("b's latest checkpoint = %+v, want size 60", cp)
	}
}

// TestAddCheckpointsRefuses: a checkpoint of another key, of a root the
// ledger does not have at that size, or beyond its head is not stored.
func TestAddCheckpointsRefuses(t *testing.T) {
	l := newTestLedger(t, testConfig(t, nil))
	mustAppend(t, l, rec(1, 1), rec(2, 1), rec(3, -1))
	if _, err := l.CheckpointCovering(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	root2, _ := l.RootAt(2)
	root3, _ := l.RootAt(3)
	wrongRoot, err := signCheckpoint(testSigner, testOrigin, 2, root3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddCheckpoints(wrongRoot); err == nil {
		t.Error("a checkpoint naming the wrong root was stored")
	}
	beyond, _ := signCheckpoint(testSigner, testOrigin, 9, root3)
	if _, err := l.AddCheckpoints(beyond); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddCheckpoints beyond the head = %v, want ErrNotFound", err)
	}
	skey, _, err := GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := signCheckpoint(other, testOrigin, 2, root2)
	if _, err := l.AddCheckpoints(foreign); err == nil {
		t.Error("a checkpoint signed by another key was stored")
	}
	if _, err := l.CheckpointAt(2); !errors.Is(err, ErrNotFound) {
		t.Errorf("CheckpointAt(2) = %v, want ErrNotFound: nothing was stored", err)
	}
	good, _ := signCheckpoint(testSigner, testOrigin, 2, root2)
	if n, err := l.AddCheckpoints(good); err != nil || n != 1 {
		t.Errorf("AddCheckpoints of the ledger's own checkpoint of size 2 = %d, %v, want 1", n, err)
	}
	if n, err := l.AddCheckpoints(good, wrongRoot); err == nil {
		t.Errorf("AddCheckpoints with one wrong checkpoint = %d, nil", n)
	}
	if cp := l.Checkpoint(); cp == nil || cp.Size != 3 {
		t.Errorf("latest checkpoint = %+v, want size 3 still", cp)
	}
}

func slicesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzRestore: whatever bytes are offered as the next entry, Restore either
// appends exactly them, leaving a ledger that verifies, or refuses them and
// leaves the ledger as it was and still usable.
func FuzzRestore(f *testing.F) {
	ctx := context.Background()
	cfg := testConfig(f, vfs.NewMem())
	cfg.Now = fixedClock()
	src := newTestLedger(f, cfg)
	for i := range 8 {
		mustAppend(f, src, rec(i, i%3-1))
	}
	var all [][]byte
	for seq := range uint64(8) {
		b, err := src.EntryAt(seq)
		if err != nil {
			f.Fatal(err)
		}
		all = append(all, bytes.Clone(b))
		f.Add(uint8(seq), bytes.Clone(b))
	}
	f.Add(uint8(3), []byte(`{"v":1,"seq":3}`))
	f.Fuzz(func(t *testing.T, at uint8, entry []byte) {
		k := int(at) % len(all)
		cfg := testConfig(t, vfs.NewMem())
		l, err := Create(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if err := l.Restore(ctx, all[:k]); err != nil {
			t.Fatalf("Restore of the first %d entries: %v", k, err)
		}
		before := l.Head()
		err = l.Restore(ctx, [][]byte{entry})
		if l.Err() != nil {
			t.Fatalf("the ledger stopped: %v", l.Err())
		}
		if err == nil {
			got, gerr := l.EntryAt(uint64(k))
			if gerr != nil || !bytes.Equal(got, entry) {
				t.Fatalf("Restore accepted %q but stored %q (%v)", entry, got, gerr)
			}
			if _, err := l.Verify(ctx); err != nil {
				t.Fatalf("Verify after restoring %q: %v", entry, err)
			}
			return
		}
		if l.Head() != before {
			t.Fatalf("a refused entry moved the head from %+v to %+v", before, l.Head())
		}
		if err := l.Restore(ctx, all[k:k+1]); err != nil {
			t.Fatalf("after refusing %q, Restore of the real entry %d: %v", entry, k, err)
		}
	})
}
