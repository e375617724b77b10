package outbox

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/liuhen/liuhen/internal/benchutil"
	"github.com/liuhen/liuhen/internal/natsrv/natstest"
	"github.com/liuhen/liuhen/ledger"
)

const benchEntries = 50_000

// benchRelay measures how fast a relay publishes a ledger of benchEntries
// that was written before it started: pure relay throughput.
func benchRelay(b *testing.B, conn func(b *testing.B) *nats.Conn) {
	var total int
	var elapsed, cpu time.Duration
	var failures uint64
	for range b.N {
		b.StopTimer()
		l := filledLedger(b, benchEntries)
		nc := conn(b)
		stopProfile := benchutil.ProfileTimed(b)
		b.StartTimer()
		t0, c0 := time.Now(), benchutil.CPUTime()
		r := start(b, l, nc, nil)
		caughtUp(b, r, l)
		elapsed += time.Since(t0)
		cpu += benchutil.CPUTime() - c0
		stopProfile()
		total += benchEntries
		b.StopTimer()
		failures += r.Status().Failures
		if err := r.stop(b); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/entry")
	// Attempts that failed (and were retried after a backoff) in the timed
	// part, e.g. while an R3 stream elected its first leader.
	b.ReportMetric(float64(failures), "failures")
}

// filledLedger returns a ledger of n entries, closed and reopened after
// the appends: Close flushes the memtable and waits for Pebble's flushes and
// compactions, so none of the fill's background work runs (and is counted
// as CPU per entry) while a benchmark's timer runs.
func filledLedger(b *testing.B, n int) *ledger.Ledger {
	cfg := ledgerConfig(b.TempDir() + "/ledger")
	l, err := ledger.Create(cfg)
	if err != nil {
		b.Fatal(err)
	}
	appendRange(b, l, 0, n, 1000, "bench")
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if l, err = ledger.Open(cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeLedger(b, l) })
	return l
}

// BenchmarkRelayR1: embedded single node, in-process connection.
func BenchmarkRelayR1(b *testing.B) {
	benchRelay(b, func(b *testing.B) *nats.Conn { return embedded(b) })
}

// BenchmarkRelayR3: three nodes in this process over loopback, R3 streams.
func BenchmarkRelayR3(b *testing.B) {
	benchRelay(b, func(b *testing.B) *nats.Conn {
		nodes := natstest.Cluster(b, 3)
		nc := natstest.Connect(b, natstest.URLs(nodes...))
		ensure(b, nc, 3)
		return nc
	})
}

// BenchmarkPublishLag appends 20,000 entries/s (batches of 200 every 10 ms)
// for five seconds with the relay running on an embedded R1 server, and
// reports the time from Append returning to JetStream's ack, per entry.
func BenchmarkPublishLag(b *testing.B) {
	const rate, batch, seconds = 20_000, 200, 5
	for range b.N {
		b.StopTimer()
		l := newLedger(b, ledger.Config{})
		nc := embedded(b)
		var mu sync.Mutex
		appended := make(map[uint64]time.Time)
		var lags []time.Duration
		r := start(b, l, nc, func(r *Relay) {
			r.afterAck = func(seq uint64) {
				now := time.Now()
				mu.Lock()
				if t, ok := appended[seq]; ok {
					lags = append(lags, now.Sub(t))
				}
				mu.Unlock()
			}
		})
		b.StartTimer()
		tick := time.NewTicker(time.Second * batch / rate)
		n := 0
		late := 0
		for n < rate*seconds {
			<-tick.C
			raws := make([][]byte, batch)
			for j := range raws {
				raws[j] = record(n+j, "lag")
			}
			res, err := l.Append(context.Background(), raws)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			mu.Lock()
			for _, x := range res {
				appended[x.Seq] = now
			}
			mu.Unlock()
			n += batch
			if len(tick.C) > 0 {
				late++
			}
		}
		tick.Stop()
		caughtUp(b, r, l)
		b.StopTimer()
		r.stop(b)
		mu.Lock()
		slices.Sort(lags)
		if len(lags) > 0 {
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
		}
		b.ReportMetric(float64(late), "late-ticks")
		mu.Unlock()
	}
}

// BenchmarkLeafHash compares the relay's two ways to the leaf hash header
// of an entry it has just read: SHA-256 of the bytes (what it does), or
// the tree hash the ledger stored (LeafHashAt, one Pebble read).
func BenchmarkLeafHash(b *testing.B) {
	const n = 10_000
	l := filledLedger(b, n)
	entries := make([][]byte, 0, n)
	for _, e := range l.Entries(0) {
		entries = append(entries, bytes.Clone(e))
	}
	b.Run("computed", func(b *testing.B) {
		for i := range b.N {
			_ = ledger.LeafHash(entries[i%n])
		}
	})
	b.Run("stored", func(b *testing.B) {
		for i := range b.N {
			if _, err := l.LeafHashAt(uint64(i % n)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
