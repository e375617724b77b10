package projections_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/internal/feed"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
	"github.com/liuhen/liuhen/projections/report"
)

// benchCases is the number of synthetic cases of the benchmark ledger
// (about 13 entries each): LIUHEN_BENCH_CASES, default 4000 (~50k entries).
// LIUHEN_BENCH_CASES=77000 gives a ledger of about 1M entries.
func benchCases() int {
	if n, err := strconv.Atoi(os.Getenv("LIUHEN_BENCH_CASES")); err == nil && n > 0 {
		return n
	}
	return 4000
}

var benchLedger = struct {
	sync.Mutex
	l *ledger.Ledger
}{}

func ledgerForBench(b *testing.B) *ledger.Ledger {
	benchLedger.Lock()
	defer benchLedger.Unlock()
	if benchLedger.l == nil || benchLedger.l.Err() != nil {
		// Kept open for the whole run: sub-benchmarks share it.
		recs := synth.Year(synth.Options{Seed: 1, Cases: benchCases(), Year: 2020})
		dir, err := os.MkdirTemp("", "liuhen-bench-")
		if err != nil {
			b.Fatal(err)
		}
		skey, _, _ := ledger.GenerateKey("liuhen.test/bench")
		signer, _ := ledger.NewSigner(skey)
		l, err := ledger.Create(ledger.Config{Dir: filepath.Join(dir, "ledger"), Origin: "liuhen.test/bench", Signer: signer})
		if err != nil {
			b.Fatal(err)
		}
		projtest.Append(b, l, recs)
		benchLedger.l = l
	}
	return benchLedger.l
}

// BenchmarkCatchUp measures catch-up of all three projections (case files,
// report, public feed) from an empty store: every entry re-hashed and
// chain-checked (ledger.ChainVerifier, as a consumer does), decoded once,
// applied to all three, committed in batches of 1000.
func BenchmarkCatchUp(b *testing.B) {
	l := ledgerForBench(b)
	size := l.Head().Size
	b.ResetTimer()
	for range b.N {
		rt := projtest.Runtime(b, l, b.TempDir(), feed.Options{BatchSize: 1000, NoSync: true})
		st, err := rt.Register("read", all()...)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		if err := st.Wait(ctx, size); err != nil {
			b.Fatal(err)
		}
		cancel()
		<-done
		b.StopTimer()
		rt.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(size), "entries")
}

// BenchmarkAnnualReport measures the annual report served from the read
// model: a snapshot, the totals seek and the figures.
func BenchmarkAnnualReport(b *testing.B) {
	l := ledgerForBench(b)
	st := projtest.Build(b, l, all()...)
	size := l.Head().Size
	b.ResetTimer()
	for i := range b.N {
		sn, err := st.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		at := size - uint64(i)%size // a different size every time
		if _, err := report.Compute(sn, 2020, at); err != nil {
			b.Fatal(err)
		}
		sn.Close()
	}
	b.ReportMetric(float64(size), "entries")
}

var _ projections.Source = (*projections.Store)(nil)
