package consume_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/consume"
)

type noop struct{}

func (noop) Apply(context.Context, *pebble.Batch, *ledger.Entry) error { return nil }

// BenchmarkReplay replays a stream of 100,000 entries (embedded R1) into a
// no-op Handler: verification, delivery and the per-batch position commit.
func BenchmarkReplay(b *testing.B) {
	const n = 100_000
	l := newLedger(b)
	nc, js := server(b)
	appendRange(b, l, 0, n)
	published(b, relay(b, l, nc), n)
	var elapsed time.Duration
	for i := range b.N {
		db := openDB(b)
		c, err := consume.New(js, db, fmt.Sprintf("replay-%d", i), noop{}, consume.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		t0 := time.Now()
		go func() { done <- c.Run(ctx) }()
		if err := c.Caught(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "entries/s")
}
