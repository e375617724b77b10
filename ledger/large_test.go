package ledger

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	largeN   = flag.Int("large", 0, "entries for TestLargeLedger (e.g. 10000000); 0 skips it")
	largeDir = flag.String("large-dir", "", "directory for TestLargeLedger's ledger; kept between runs so that a second run only measures")
)

// TestLargeLedger is a measurement, not part of the normal suite: it builds
// (or reuses) a ledger of -large entries in -large-dir and reports how long
// Open takes, the heap after Open, inclusion proof latency and full Verify
// throughput. See docs/performance.md for the command.
func TestLargeLedger(t *testing.T) {
	if *largeN == 0 {
		t.Skip("run with -large N -large-dir DIR")
	}
	dir := *largeDir
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := Config{Dir: dir + "/ledger", Origin: testOrigin, Signer: testSigner, CheckpointInterval: time.Second}
	l, err := Open(cfg)
	if err != nil {
		if l, err = Create(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if have := int(l.Head().Size); have < *largeN {
		start := time.Now()
		var next atomic.Int64
		next.Store(int64(have))
		var wg sync.WaitGroup
		for range 2 * runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := make([][]byte, 0, 1000)
				for {
					batch = batch[:0]
					for range 1000 {
						i := next.Add(1) - 1
						if i >= int64(*largeN) {
							break
						}
						batch = append(batch, benchRecord(i))
					}
					if len(batch) == 0 {
						return
					}
					if _, err := l.Append(context.Background(), batch); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("built %d entries in %v (%.0f entries/s)", l.Head().Size-uint64(have), time.Since(start), float64(int(l.Head().Size)-have)/time.Since(start).Seconds())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	l, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	openTime := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	size := l.Head().Size
	t.Logf("Open of %d entries: %v; heap after Open %.1f MiB (before %.1f MiB)", size, openTime, float64(after.HeapInuse)/(1<<20), float64(before.HeapInuse)/(1<<20))

	// Proofs for random entries: the first 2,000 after Open find the
	// caches cold; the 10,000 after the next 8,000 find them as a server
	// that has been answering for a while does.
	rng := rand.New(rand.NewPCG(7, 7))
	var lat []time.Duration
	for range 20_000 {
		seq := rng.Uint64N(size)
		s := time.Now()
		if _, err := l.InclusionProof(seq, size); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(s))
	}
	for _, r := range []struct {
		name     string
		from, to int
	}{{"cold, first 2,000", 0, 2000}, {"warm, last 10,000", 10_000, 20_000}} {
		w := slices.Clone(lat[r.from:r.to])
		slices.Sort(w)
		t.Logf("inclusion proof at size %d (%s): p50 %v, p99 %v, max %v", size, r.name, w[len(w)/2], w[len(w)*99/100], w[len(w)-1])
	}

	if os.Getenv("LIUHEN_LARGE_VERIFY") != "" {
		start = time.Now()
		var peak runtime.MemStats
		done := make(chan struct{})
		var maxHeap atomic.Uint64
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(200 * time.Millisecond):
					runtime.ReadMemStats(&peak)
					if peak.HeapInuse > maxHeap.Load() {
						maxHeap.Store(peak.HeapInuse)
					}
				}
			}
		}()
		rep, err := l.Verify(context.Background())
		close(done)
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("Verify of %d entries (%d cases): %v, %.0f entries/s, peak heap %.1f MiB", rep.Size, rep.Cases, d, float64(rep.Size)/d.Seconds(), float64(maxHeap.Load())/(1<<20))
	}
	l.Close()
}
