package consume_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/liuhen/liuhen/internal/benchutil"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/consume"
)

type noop struct{}

func (noop) Apply(context.Context, *pebble.Batch, *ledger.Entry) error { return nil }

// BenchmarkReplay replays a stream of 100,000 entries (embedded R1) into a
// no-op Handler: delivery, verification and the per-batch position commit,
// from position 0 until Caught(100000). The stream is built once, outside
// the timed part. Metrics: entries/s of wall time, and CPU µs per entry of
// the whole process (consumer and embedded server), which a shared machine
// disturbs much less than wall time.
func BenchmarkReplay(b *testing.B) {
	const n = 100_000
	l := newLedger(b)
	nc, js := server(b)
	appendRange(b, l, 0, n)
	published(b, relay(b, l, nc), n)
	if path := os.Getenv("LIUHEN_BENCH_CPUPROFILE"); path != "" {
		// The timed part only, without building the stream.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	var elapsed, cpu time.Duration
	for i := range b.N {
		db := openDB(b)
		c, err := consume.New(js, db, fmt.Sprintf("replay-%d", i), noop{}, consume.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t0, c0 := time.Now(), benchutil.CPUTime()
		go func() { done <- c.Run(ctx) }()
		if err := c.Caught(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cpu += benchutil.CPUTime() - c0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/entry")
}
