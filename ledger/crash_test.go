package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestCrashRecovery appends from several goroutines on Pebble's crashable
// in-memory filesystem and, at a random moment, takes a crash clone: the
// state a power cut would leave, keeping a random part of what was written
// but not synced. Every record acknowledged before the clone must be in the
// reopened ledger, and Verify must pass.
func TestCrashRecovery(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { crashOnce(t, uint64(seed)) })
	}
}

func crashOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x6c697568656e))
	fs := vfs.NewCrashableMem()
	cfg := testConfig(t, fs)
	cfg.MaxBatch = 1 + rng.IntN(64)
	l, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = map[int]uint64{} // record index -> seq
		next  atomic.Int64
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := int(next.Add(1))
				batch := [][]byte{rec(i, i%7)}
				if i%5 == 0 {
					batch = append(batch, rec(i-1, (i-1)%7)) // a duplicate now and then
				}
				res, err := l.Append(context.Background(), batch)
				if err != nil {
					return
				}
				mu.Lock()
				acked[i] = res[0].Seq
				mu.Unlock()
			}
		}()
	}
	// Let some appends happen, then crash.
	target := 20 + rng.IntN(300)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= target {
			break
		}
		if l.Err() != nil {
			t.Fatal(l.Err())
		}
	}
	mu.Lock()
	snapshot := make(map[int]uint64, len(acked))
	for k, v := range acked {
		snapshot[k] = v
	}
	mu.Unlock()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
	stop.Store(true)
	wg.Wait()
	l.Close()

	cfg.FS = crashed
	l2, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer l2.Close()
	if _, err := l2.Verify(context.Background()); err != nil {
		t.Fatalf("Verify after crash: %v", err)
	}
	for i, seq := range snapshot {
		r, _ := ParseRecord(rec(i, i%7))
		got, err := l2.SeqOf(r.ID)
		if err != nil || got != seq {
			t.Fatalf("acknowledged record %d (seq %d) after crash: seq %d, %v", i, seq, got, err)
		}
	}
	// The reopened ledger keeps going from where the crash left it.
	res := mustAppend(t, l2, rec(1_000_000, 3))
	if res[0].Status != Accepted || res[0].Seq != l2.Head().Size-1 {
		t.Fatalf("append after crash = %+v, head %d", res[0], l2.Head().Size)
	}
	if _, err := l2.Verify(context.Background()); err != nil {
		t.Fatalf("Verify after crash and append: %v", err)
	}
}

// TestStorageFailureStopsSequencer injects an error into the WAL's write or
// sync. The sequencer must stop with a FatalError, acknowledge nothing it
// did not sync, and leave a chain that reopens and verifies without a
// half-written entry.
func TestStorageFailureStopsSequencer(t *testing.T) {
	kinds := map[string][]errorfs.OpKind{
		"write": {errorfs.OpFileWrite, errorfs.OpFileWriteAt},
		"sync":  {errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo},
	}
	for name, ops := range kinds {
		t.Run(name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			var armed atomic.Bool
			inj := errorfs.InjectorFunc(func(o errorfs.Op) error {
				if armed.Load() && slices.Contains(ops, o.Kind) && isWAL(o.Path) {
					return errors.New("injected WAL " + name + " failure")
				}
				return nil
			})
			cfg := testConfig(t, nil)
			cfg.Dir = "ledger"
			cfg.FS = errorfs.Wrap(mem, inj)
			l, err := Create(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustAppend(t, l, rec(1, 1), rec(2, 1))
			armed.Store(true)
			var appendErr error
			func() {
				defer func() {
					if r := recover(); r != nil {
						appendErr = fmt.Errorf("panic: %v", r)
					}
				}()
				_, appendErr = l.Append(context.Background(), [][]byte{rec(3, 1)})
			}()
			if appendErr == nil {
				t.Fatal("Append succeeded while the WAL failed")
			}
			var fe *FatalError
			if !errors.As(appendErr, &fe) {
				t.Logf("Append error: %v", appendErr)
			}
			if _, err := l.Append(context.Background(), [][]byte{rec(4, 1)}); err == nil {
				t.Fatal("Append succeeded after a fatal error")
			}
			crashed := mem.CrashClone(vfs.CrashCloneCfg{})
			armed.Store(false)
			closeQuietly(l)

			cfg.FS = crashed
			l2, err := Open(cfg)
			if err != nil {
				t.Fatalf("Open after failure: %v", err)
			}
			defer l2.Close()
			if _, err := l2.Verify(context.Background()); err != nil {
				t.Fatalf("Verify after failure: %v", err)
			}
			if s := l2.Head().Size; s < 2 || s > 3 {
				t.Fatalf("size after failure = %d, want 2 (or 3 if the failed write had reached the disk)", s)
			}
		})
	}
}

func isWAL(path string) bool {
	return len(path) > 4 && path[len(path)-4:] == ".log"
}

func closeQuietly(l *Ledger) {
	defer func() { _ = recover() }()
	_ = l.Close()
}
