package compliance_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/benchutil"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/internal/feed"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
	"github.com/liuhen/liuhen/projections/public"
	"github.com/liuhen/liuhen/projections/report"
)

// benchCases is the number of synthetic cases of the benchmark ledger
// (about 12.5 entries each): LIUHEN_BENCH_CASES, default 4000 (~50k
// entries), as in the projections' BenchmarkCatchUp.
func benchCases() int {
	if n, err := strconv.Atoi(os.Getenv("LIUHEN_BENCH_CASES")); err == nil && n > 0 {
		return n
	}
	return 4000
}

var bench = struct {
	sync.Mutex
	l   *clockLedger
	dir string
}{}

// TestMain removes the benchmark ledger, which the benchmarks of a run
// share, once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if bench.l != nil {
		bench.l.Close()
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

// benchLedger is a synthetic year whose devices sync within minutes
// (recorded_at follows occurred_at) and number their records in order, so
// that the rules see realistic data rather than one late upload per entry.
// Like the projections' benchmark ledger it is on disk, in the system's
// temporary directory, removed by TestMain.
func benchLedger(b *testing.B) *clockLedger {
	bench.Lock()
	defer bench.Unlock()
	if bench.l != nil {
		return bench.l
	}
	recs := synth.Year(synth.Options{Seed: 1, Cases: benchCases(), Year: 2020})
	dir, err := os.MkdirTemp("", "liuhen-compliance-bench-")
	if err != nil {
		b.Fatal(err)
	}
	l := createLedger(b, filepath.Join(dir, "ledger"), vfs.Default) // kept open for the whole run: benchmarks share it
	seq := map[string]int64{}
	var batch [][]byte
	var hour time.Time
	flush := func() {
		if len(batch) == 0 {
			return
		}
		l.mu.Lock()
		l.clock = hour.Add(65 * time.Minute)
		l.mu.Unlock()
		projtest.Append(b, l.Ledger, batch)
		batch = batch[:0]
	}
	for _, raw := range recs {
		var m map[string]any
		json.Unmarshal(raw, &m)
		at, _ := time.Parse(time.RFC3339, m["occurred_at"].(string))
		if h := at.Truncate(time.Hour); !h.Equal(hour) {
			flush()
			hour = h
		}
		dev := m["device"].(map[string]any)
		seq[dev["id"].(string)]++
		dev["seq"] = seq[dev["id"].(string)]
		out, _ := json.Marshal(m)
		batch = append(batch, out)
	}
	flush()
	bench.l, bench.dir = l, dir
	return l
}

func baseProjections() []projections.Projection {
	return []projections.Projection{casefile.New(), report.New(report.Config{Calendar: compliance.DefaultCalendar()}),
		public.New(public.Config{Agency: "晋城市城市管理局"})}
}

// catchUp builds a store of projs from empty to the ledger's head, as the
// projections' BenchmarkCatchUp does (verify, decode, apply, batches of
// 1000, NoSync), and returns its wall and process CPU time.
func catchUp(b *testing.B, l *clockLedger, projs []projections.Projection) (wall, cpu time.Duration, wal uint64) {
	return catchUpWith(b, l, projs, projtest.Runtime(b, l.Ledger, b.TempDir(), feed.Options{BatchSize: 1000, NoSync: true}))
}

// catchUpWith is catchUp with the runtime rt. It also returns the bytes the
// store wrote to its WAL: what the projections wrote, which unlike the
// times is the same in every run.
func catchUpWith(b *testing.B, l *clockLedger, projs []projections.Projection, rt *projections.Runtime) (wall, cpu time.Duration, wal uint64) {
	size := l.Head().Size
	st, err := rt.Register("read", projs...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	t0, c0 := time.Now(), benchutil.CPUTime()
	go func() { done <- rt.Run(ctx) }()
	if err := st.Wait(ctx, size); err != nil {
		b.Fatal(err)
	}
	wall, cpu = time.Since(t0), benchutil.CPUTime()-c0
	if ss, ok := st.StorageStats(); ok {
		wal = ss.WALBytesWritten
	}
	cancel()
	<-done
	rt.Close()
	return wall, cpu, wal
}

// BenchmarkCatchUp measures catch-up from an empty store without and with
// the compliance projection, over the same ledger, alternately, so that
// both see the same load on a shared machine: the difference is the cost
// of evaluating every rule on every entry and keeping the findings index.
// Each op is one run of each. It reports the fastest run of each (the one
// least disturbed by other processes) by wall clock and by process CPU
// time (all goroutines, GC included), and the overheads.
func BenchmarkCatchUp(b *testing.B) {
	l := benchLedger(b)
	pairedCatchUp(b, l, func() *projections.Runtime {
		return projtest.Runtime(b, l.Ledger, b.TempDir(), feed.Options{BatchSize: 1000, NoSync: true})
	})
}

// BenchmarkCatchUpJetStream is BenchmarkCatchUp through the real path of
// liuhen serve: the ledger published to an embedded nats-server before the
// timer, each store fed by projections/consume (default options: synced
// commits) from the start of the stream.
func BenchmarkCatchUpJetStream(b *testing.B) {
	l := benchLedger(b)
	n := projtest.JetStream(b, l.Ledger)
	n.Published(b, l.Head().Size)
	pairedCatchUp(b, l, func() *projections.Runtime {
		return projtest.RuntimeJS(b, l.Ledger, n, b.TempDir(), consume.Options{})
	})
}

func pairedCatchUp(b *testing.B, l *clockLedger, newRuntime func() *projections.Runtime) {
	size := float64(l.Head().Size)
	best := func(d *time.Duration, v time.Duration) {
		if *d == 0 || v < *d {
			*d = v
		}
	}
	var bw, bc, ww, wc time.Duration
	var bwal, wwal uint64
	b.ResetTimer()
	for i := range b.N {
		p, err := compliance.New(compliance.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for _, with := range []bool{i%2 == 1, i%2 == 0} {
			if only := os.Getenv("LIUHEN_BENCH_ONLY"); only != "" && only != map[bool]string{true: "with", false: "base"}[with] {
				continue // profiling one side: LIUHEN_BENCH_ONLY=base or with
			}
			if with {
				w, c, wal := catchUpWith(b, l, append(baseProjections(), p), newRuntime())
				wwal = wal
				best(&ww, w)
				best(&wc, c)
			} else {
				w, c, wal := catchUpWith(b, l, baseProjections(), newRuntime())
				bwal = wal
				best(&bw, w)
				best(&bc, c)
			}
		}
	}
	b.ReportMetric(size, "entries")
	b.ReportMetric(size/bw.Seconds(), "base-entries/s")
	b.ReportMetric(size/ww.Seconds(), "with-entries/s")
	b.ReportMetric(float64(bc.Microseconds())/size, "base-cpu-µs/entry")
	b.ReportMetric(float64(wc.Microseconds())/size, "with-cpu-µs/entry")
	b.ReportMetric(100*(ww.Seconds()/bw.Seconds()-1), "wall-overhead-%")
	b.ReportMetric(100*(wc.Seconds()/bc.Seconds()-1), "cpu-overhead-%")
	b.ReportMetric(float64(bwal)/size, "base-wal-B/entry")
	b.ReportMetric(float64(wwal)/size, "with-wal-B/entry")
}

// BenchmarkRead measures the read side over the benchmark ledger at the
// end of the following year: a page of 50 open findings across cases, one
// case's findings, and the annual report's counts by rule.
func BenchmarkRead(b *testing.B) {
	l := benchLedger(b)
	p, err := compliance.New(compliance.Config{})
	if err != nil {
		b.Fatal(err)
	}
	st := projtest.Build(b, l.Ledger, append(baseProjections(), p)...)
	sn, err := st.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer sn.Close()
	now := time.Date(2021, 12, 31, 0, 0, 0, 0, cst)
	open := true
	page, err := p.List(sn, compliance.Filter{}, now, 500, "")
	if err != nil || len(page.Findings) == 0 {
		b.Fatalf("List = %v, %v", page, err)
	}
	id := uuid.MustParse(page.Findings[0].CaseID)
	b.Run("list-open-page", func(b *testing.B) {
		for range b.N {
			if _, err := p.List(sn, compliance.Filter{Open: &open}, now, 50, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("case", func(b *testing.B) {
		for range b.N {
			if _, _, err := p.Case(sn, id, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("report-count", func(b *testing.B) {
		for range b.N {
			if _, err := p.Count(sn, 2020, sn.Size, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// noop is a projection that reads nothing and writes nothing.
type noop struct{}

func (noop) Name() string { return "noop" }
func (noop) Version() int { return 1 }
func (noop) Apply(context.Context, *projections.Tx, *projections.Entry) error {
	return nil
}

// BenchmarkRules measures the compliance projection alone: a store holding
// only it, against a store holding a projection that does nothing, both
// caught up from empty over the benchmark ledger as in BenchmarkCatchUp,
// alternately. The difference in process CPU per entry is what the rules
// cost (evaluation, their writes and Pebble's share, GC), apart from the
// other projections; it is steadier than BenchmarkCatchUp's ratio.
func BenchmarkRules(b *testing.B) {
	l := benchLedger(b)
	size := float64(l.Head().Size)
	var rules, empty time.Duration
	var rulesWAL, emptyWAL uint64
	b.ResetTimer()
	for i := range b.N {
		for _, with := range []bool{i%2 == 1, i%2 == 0} {
			if with {
				p, err := compliance.New(compliance.Config{})
				if err != nil {
					b.Fatal(err)
				}
				_, c, wal := catchUp(b, l, []projections.Projection{p})
				rules += c
				rulesWAL = wal
			} else {
				_, c, wal := catchUp(b, l, []projections.Projection{noop{}})
				empty += c
				emptyWAL = wal
			}
		}
	}
	n := size * float64(b.N)
	b.ReportMetric(float64(empty.Microseconds())/n, "empty-cpu-µs/entry")
	b.ReportMetric(float64(rules.Microseconds())/n, "rules-cpu-µs/entry")
	b.ReportMetric(float64((rules-empty).Microseconds())/n, "rules-only-cpu-µs/entry")
	b.ReportMetric(float64(rulesWAL-emptyWAL)/size, "rules-wal-B/entry")
}
