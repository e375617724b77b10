package projections_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/internal/benchutil"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/consume"
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
	l   *ledger.Ledger
	dir string
}{}

// TestMain removes the benchmark ledger, which the benchmarks of a run
// share, once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchLedger.l != nil {
		benchLedger.l.Close()
		os.RemoveAll(benchLedger.dir)
	}
	os.Exit(code)
}

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
		benchLedger.l, benchLedger.dir = l, dir
	}
	return benchLedger.l
}

// catchUp times runtimes made by newRuntime catching up with size entries
// from empty, all three projections in one store, and reports entries/s of
// wall time and CPU µs per entry of the whole process (less disturbed than
// wall time on a shared machine).
func catchUp(b *testing.B, size uint64, newRuntime func() *projections.Runtime) {
	stop := benchutil.ProfileTimed(b)
	defer stop()
	var elapsed, cpu time.Duration
	var alloc uint64
	var ms runtime.MemStats
	for range b.N {
		rt := newRuntime()
		st, err := rt.Register("read", all()...)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		runtime.ReadMemStats(&ms)
		a0 := ms.TotalAlloc
		t0, c0 := time.Now(), benchutil.CPUTime()
		go func() { done <- rt.Run(ctx) }()
		if err := st.Wait(ctx, size); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cpu += benchutil.CPUTime() - c0
		runtime.ReadMemStats(&ms)
		alloc += ms.TotalAlloc - a0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if err := rt.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)*float64(b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(size)/float64(b.N), "cpu-µs/entry")
	b.ReportMetric(float64(alloc)/float64(size)/float64(b.N), "alloc-B/entry")
	b.ReportMetric(float64(size), "entries")
}

// BenchmarkCatchUp measures catch-up of all three projections (case files,
// report, public feed) from an empty store fed straight from the ledger
// (projections/internal/feed: leaf-hash chain checked and entries read as
// the JetStream consumer does, batches of 1000, NoSync): the projections'
// own cost.
func BenchmarkCatchUp(b *testing.B) {
	l := ledgerForBench(b)
	catchUp(b, l.Head().Size, func() *projections.Runtime {
		return projtest.Runtime(b, l, b.TempDir(), feed.Options{BatchSize: 1000, NoSync: true})
	})
}

// BenchmarkCatchUpJetStream measures the same catch-up through the real
// path of liuhen serve and liuhen project: the ledger published by the relay
// to an embedded nats-server (outside the timed part), then a new store fed
// by projections/consume (durable pull consumer, verification, one synced
// Pebble commit per batch) from the start of the stream.
func BenchmarkCatchUpJetStream(b *testing.B) {
	l := ledgerForBench(b)
	size := l.Head().Size
	n := projtest.JetStream(b, l)
	n.Published(b, size)
	catchUp(b, size, func() *projections.Runtime {
		return projtest.RuntimeJS(b, l, n, b.TempDir(), consume.Options{})
	})
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

// BenchmarkCaseFile measures GET /v1/cases/{id}'s work: a snapshot, the
// fold of one case's entries into its file and timeline, the view.
func BenchmarkCaseFile(b *testing.B) {
	l := ledgerForBench(b)
	st := projtest.Build(b, l, all()...)
	sn, err := st.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	page, err := casefile.List(sn, casefile.Filter{}, 500, "")
	sn.Close()
	if err != nil || len(page.Cases) == 0 {
		b.Fatalf("List: %v", err)
	}
	entries := 0
	b.ResetTimer()
	for i := range b.N {
		sn, err := st.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		id := uuid.MustParse(page.Cases[i%len(page.Cases)].CaseID)
		v, err := casefile.Read(sn, id, casefile.Config{})
		if err != nil || v == nil {
			b.Fatalf("Read(%s) = %v", id, err)
		}
		entries += len(v.Timeline)
		sn.Close()
	}
	b.ReportMetric(float64(entries)/float64(b.N), "entries/case")
}
