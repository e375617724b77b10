package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestBackup: a backup taken while appenders run holds every entry
// acknowledged before it began, byte for byte, verifies on its own, and
// opens as a ledger that goes on where the copy ends.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, nil)
	l := newTestLedger(t, cfg)
	mustAppend(t, l, rec(0, 0), rec(1, 1), rec(2, -1))

	var stop atomic.Bool
	var acked atomic.Uint64 // the highest seq+1 acknowledged so far
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(3)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				res, err := l.Append(ctx, [][]byte{rec(i, i%5-1)})
				if err != nil || res[0].Status != Accepted {
					t.Errorf("Append %d: %v %+v", i, err, res)
					return
				}
				for {
					a := acked.Load()
					if res[0].Seq+1 <= a || acked.CompareAndSwap(a, res[0].Seq+1) {
						break
					}
				}
			}
		})
	}
	for acked.Load() < 200 {
		mustAppend(t, l, rec(1_000_000+int(acked.Load()), 2)) // also wait
	}
	dir := filepath.Join(t.TempDir(), "copy")
	before := acked.Load()
	h, cp, err := l.Backup(dir)
	after := l.Head().Size
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if h.Size < before || h.Size > after {
		t.Fatalf("backup head %d, want between %d (acknowledged before) and %d (head after)", h.Size, before, after)
	}
	if cp.Size > h.Size {
		t.Fatalf("backup checkpoint %d beyond its head %d", cp.Size, h.Size)
	}
	if r, _ := l.RootAt(h.Size); r != h.Root {
		t.Fatalf("backup root %x, the ledger's root at %d is %x", h.Root, h.Size, r)
	}
	if _, _, err := l.Backup(dir); err == nil {
		t.Fatal("Backup over an existing directory succeeded")
	}

	// Read-only: no key needed, everything verifies, nothing is written.
	sums := dirSums(t, dir)
	c, err := Open(Config{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatalf("Open read-only: %v", err)
	}
	if c.Head() != h {
		t.Fatalf("read-only head %+v, want %+v", c.Head(), h)
	}
	rep, err := c.Verify(ctx)
	if err != nil {
		t.Fatalf("Verify of the backup: %v", err)
	}
	if rep.Size != h.Size {
		t.Fatalf("Verify size %d, want %d", rep.Size, h.Size)
	}
	for seq := range h.Size {
		a, _ := l.EntryAt(seq)
		b, err := c.EntryAt(seq)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("entry %d differs in the backup: %v", seq, err)
		}
	}
	if _, err := c.Append(ctx, [][]byte{rec(9_000_000, 0)}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only Append = %v, want ErrReadOnly", err)
	}
	if _, err := c.AddCheckpoints(cp.Note); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only AddCheckpoints = %v, want ErrReadOnly", err)
	}
	if err := c.SetPublisherCursor(1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only SetPublisherCursor = %v, want ErrReadOnly", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close read-only: %v", err)
	}
	if got := dirSums(t, dir); !maps.Equal(got, sums) {
		t.Fatalf("a read-only open changed the directory:\n before %v\n after  %v", sums, got)
	}

	// Opened with the key, the copy is a ledger: what it holds is a
	// duplicate, and it goes on at its own head.
	w, err := Open(Config{Dir: dir, Signer: testSigner})
	if err != nil {
		t.Fatalf("Open the backup: %v", err)
	}
	defer w.Close()
	if res := mustAppend(t, w, rec(0, 0)); res[0].Status != Duplicate || res[0].Seq != 0 {
		t.Fatalf("re-append of entry 0 to the backup: %+v", res[0])
	}
	if res := mustAppend(t, w, rec(9_000_001, 0)); res[0].Status != Accepted || res[0].Seq != h.Size {
		t.Fatalf("append to the backup: %+v, want accepted at %d", res[0], h.Size)
	}
	if _, err := w.Verify(ctx); err != nil {
		t.Fatalf("Verify after appending to the backup: %v", err)
	}
}

// TestBackupMemFS: on Pebble's in-memory filesystem (no hard links to
// make), the copy is as good.
func TestBackupMemFS(t *testing.T) {
	mem := vfs.NewMem()
	l := newTestLedger(t, testConfig(t, mem))
	for i := range 50 {
		mustAppend(t, l, rec(i, i%3))
	}
	h, _, err := l.Backup("copy")
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if h.Size != 50 {
		t.Fatalf("backup size %d, want 50", h.Size)
	}
	c, err := Open(Config{Dir: "copy", FS: mem, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Verify(context.Background()); err != nil {
		t.Fatalf("Verify of the backup: %v", err)
	}
}

// TestReadOnlyRefusesCreate: a read-only Config creates nothing.
func TestReadOnlyRefusesCreate(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.ReadOnly = true
	if _, err := Create(cfg); err == nil {
		t.Fatal("Create with ReadOnly succeeded")
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Create with ReadOnly left %s: %v", cfg.Dir, err)
	}
	if _, err := Open(Config{Dir: cfg.Dir, ReadOnly: true}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("read-only Open of nothing = %v, want ErrNotExist", err)
	}
}

// dirSums maps every file under dir to the SHA-256 of its contents.
func dirSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
