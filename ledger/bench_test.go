package ledger

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/benchutil"
)

// benchRecord is a realistic record of about 550 bytes. It is built by
// appending rather than with fmt, which took as much CPU as parsing the
// record and so crowded the ledger out of the benchmarks' two cores.
func benchRecord(i int64) []byte {
	b := make([]byte, 0, 700)
	b = append(b, `{"id":"0193f0a2-7c1e-7b3a-9d55-`...)
	b = appendPadded(b, i, 12)
	b = append(b, `","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-`...)
	b = appendPadded(b, i%5000, 12)
	b = append(b, `","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-`...)
	b = appendPadded(b, i%64, 4)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}],"data":{"document_no":"晋市城管检字〔2020〕第`...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, `号","findings":"当事人在迎泽大街人行道上摆摊设点，占道经营，影响通行。"},"media":[{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":104857600,"content_type":"video/mp4"}]}`...)
	return b
}

// appendPadded appends the non-negative n in decimal, zero-padded to width.
func appendPadded(b []byte, n int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], n, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// reportRate reports events/s and CPU-µs per event, which contention on a
// shared machine barely changes, from start (wall clock, CPU time).
func reportRate(b *testing.B, n int, wall time.Time, cpu time.Duration) {
	b.ReportMetric(float64(n)/time.Since(wall).Seconds(), "events/s")
	b.ReportMetric(float64((benchutil.CPUTime()-cpu).Microseconds())/float64(n), "cpu-µs/event")
}

// benchDir is a fresh directory for a benchmark's Pebble: under
// LIUHEN_BENCH_DIR when set (a real disk; b.TempDir may be tmpfs).
func benchDir(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("LIUHEN_BENCH_DIR")
	if dir == "" {
		return b.TempDir()
	}
	dir, err := os.MkdirTemp(dir, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func benchLedger(b *testing.B) *Ledger {
	b.Helper()
	dir := benchDir(b)
	l, err := Create(Config{Dir: dir + "/l", Origin: testOrigin, Signer: testSigner, CheckpointInterval: benchCPInterval, CacheSize: benchCache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

// BenchmarkAppendSingle: single-record appends, each fsynced, from 64
// concurrent appenders (the sequencer groups them into commits).
func BenchmarkAppendSingle(b *testing.B) {
	l := benchLedger(b)
	var next atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu := time.Now(), benchutil.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := benchRecord(next.Add(1))
			res, err := l.Append(context.Background(), [][]byte{r})
			if err != nil || res[0].Status != Accepted {
				b.Errorf("Append: %v %v", err, res)
				return
			}
		}
	})
	reportRate(b, b.N, start, cpu)
	reportWrites(b, l, b.N)
}

// reportWrites reports what Pebble wrote per event: to the WAL, by memtable
// flushes and by compactions (those still running when the benchmark ends
// are not counted). Unlike the times, these barely move between runs.
func reportWrites(b *testing.B, l *Ledger, n int) {
	s, _ := l.StorageStats()
	b.ReportMetric(float64(s.WALBytesWritten)/float64(n), "wal-B/event")
	b.ReportMetric(float64(s.FlushedBytesWritten)/float64(n), "flush-B/event")
	b.ReportMetric(float64(s.CompactedBytesWritten)/float64(n), "compact-B/event")
}

// BenchmarkAppendBatch100: 100-record batches from 8 concurrent appenders.
func BenchmarkAppendBatch100(b *testing.B) {
	l := benchLedger(b)
	var next atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu := time.Now(), benchutil.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		batch := make([][]byte, 100)
		for pb.Next() {
			for j := range batch {
				batch[j] = benchRecord(next.Add(1))
			}
			if _, err := l.Append(context.Background(), batch); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, b.N*100, start, cpu)
	reportWrites(b, l, b.N*100)
}

var verifyN = flag.Int("verify-entries", 200_000, "entries in the ledger for BenchmarkVerify")

// fill appends n benchmark records in batches of 1000.
func fill(b *testing.B, l *Ledger, n int) {
	b.Helper()
	batch := make([][]byte, 0, 1000)
	for i := 0; i < n; i++ {
		batch = append(batch, benchRecord(int64(i)))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := l.Append(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// settle compacts the whole ledger, so that the flushes and compactions the
// fill left behind do not run (and count in the CPU time) while a read
// benchmark is timed.
func settle(b *testing.B, l *Ledger) {
	b.Helper()
	if err := l.db.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := l.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify: full Verify; one op verifies the whole ledger.
func BenchmarkVerify(b *testing.B) {
	l := benchLedger(b)
	fill(b, l, *verifyN)
	settle(b, l)
	b.ResetTimer()
	start, cpu := time.Now(), benchutil.CPUTime()
	for range b.N {
		if _, err := l.Verify(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N**verifyN)/time.Since(start).Seconds(), "entries/s")
	b.ReportMetric(float64((benchutil.CPUTime()-cpu).Microseconds())/float64(b.N**verifyN), "cpu-µs/entry")
}

// BenchmarkInclusionProof: proofs for random leaves at the current size.
func BenchmarkInclusionProof(b *testing.B) {
	l := benchLedger(b)
	fill(b, l, *verifyN)
	settle(b, l)
	size := l.Head().Size
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for range b.N {
		if _, err := l.InclusionProof(rng.Uint64N(size), size); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCache is the block cache (LIUHEN_BENCH_CACHE, bytes; 0 for the
// default): a small one makes proofs and Verify read most blocks from the
// files, as on a ledger much larger than memory.
var benchCache = func() int64 {
	n, _ := strconv.ParseInt(os.Getenv("LIUHEN_BENCH_CACHE"), 10, 64)
	return n
}()

var benchCPInterval = func() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("LIUHEN_BENCH_CP_INTERVAL"))
	return d
}()

// BenchmarkRawPebbleGroupCommit is the baseline the append benchmarks are
// judged against: Pebble alone, with the ledger's options, 64 concurrent
// writers each committing a synced batch of the keys one entry costs (the
// ~550-byte entry, two tree hashes, three index rows and the head), with no
// parsing, hashing or sequencing. Pebble groups concurrent synced commits
// into one WAL fsync itself.
func BenchmarkRawPebbleGroupCommit(b *testing.B) { rawPebbleBench(b, 64, 1) }

// BenchmarkRawPebbleBatch100 is BenchmarkRawPebbleGroupCommit in the shape
// of BenchmarkAppendBatch100: 8 concurrent writers, each committing the keys
// of 100 records in one synced batch. It is the store's own ceiling for that
// benchmark, before any parsing, canonicalization, hashing or id lookup.
func BenchmarkRawPebbleBatch100(b *testing.B) { rawPebbleBench(b, 8, 100) }

// rawPebbleBench commits, from writers concurrent goroutines, synced batches
// of the keys of per records each and one head.
func rawPebbleBench(b *testing.B, writers, per int) {
	db := rawPebble(b)
	var next atomic.Uint64
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu := time.Now(), benchutil.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		var id [16]byte
		for pb.Next() {
			batch := db.NewBatch()
			for range per {
				setRawKeys(batch, next.Add(1), &id)
			}
			_ = batch.Set(keyHead, id[:], nil)
			if err := batch.Commit(pebble.Sync); err != nil {
				b.Error(err)
				return
			}
			batch.Close()
		}
	})
	reportRate(b, b.N*per, start, cpu)
}

// rawPebble opens a Pebble database with the ledger's options, closed
// when b ends.
func rawPebble(b *testing.B) *pebble.DB {
	dir := benchDir(b)
	cfg := Config{Dir: dir}
	cfg.setDefaults()
	cache := newCache(&cfg)
	db, err := pebble.Open(dir, pebbleOptions(&cfg, cache))
	if err != nil {
		cache.Unref()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		db.Close()
		cache.Unref()
	})
	return db
}

// setRawKeys adds to batch what the ledger writes for record seq, with id
// as a stand-in for every hash and id: the entry, two tree hashes, and the
// id, case and device index rows.
func setRawKeys(batch *pebble.Batch, seq uint64, id *[16]byte) {
	binary.BigEndian.PutUint64(id[8:], seq)
	_ = batch.Set(seqKey(prefixEntry, seq), benchRecord(int64(seq)), nil)
	_ = batch.Set(seqKey(prefixHash, 2*seq), id[:], nil)
	_ = batch.Set(seqKey(prefixHash, 2*seq+1), id[:], nil)
	_ = batch.Set(idKey(uuid.UUID(*id)), id[:], nil)
	_ = batch.Set(caseKey(uuid.UUID(*id), seq), id[:], nil)
	_ = batch.Set(deviceKey("ZFY-140500-0001", seq), id[:8], nil)
}

// TestBenchRecord pins the benchmarks' record to the one they always used.
func TestBenchRecord(t *testing.T) {
	for _, i := range []int64{0, 7, 4999, 5001, 123456789, 999999999999} {
		want := fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-%012d","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-%04d","seq":%d},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}],"data":{"document_no":"晋市城管检字〔2020〕第%d号","findings":"当事人在迎泽大街人行道上摆摊设点，占道经营，影响通行。"},"media":[{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":104857600,"content_type":"video/mp4"}]}`,
			i, i%5000, i%64, i, i)
		if got := string(benchRecord(i)); got != want {
			t.Fatalf("benchRecord(%d) =\n%s\nwant\n%s", i, got, want)
		}
	}
}
