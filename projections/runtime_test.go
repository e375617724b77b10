package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/internal/feed"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
	"github.com/liuhen/liuhen/projections/public"
	"github.com/liuhen/liuhen/projections/report"
)

func all() []projections.Projection {
	return []projections.Projection{casefile.New(), report.New(report.Config{}), public.New(public.Config{Agency: "晋城市城市管理局"})}
}

// concurrent makes a projection projections.Concurrent: it is applied on a
// goroutine of its own.
type concurrent struct{ projections.Projection }

func (concurrent) Concurrent() bool { return true }

// failOn makes flaky's Apply fail on the entry of this seq (0: never).
var failOn atomic.Uint64

// flaky is a projection that fails on the entry failOn names.
type flaky struct{ projections.Projection }

func (p flaky) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	if s := failOn.Load(); s != 0 && e.Seq == s {
		return errors.New("injected failure")
	}
	return p.Projection.Apply(ctx, tx, e)
}

// lanes are the ways a store may apply its projections: all on the
// consumer's goroutine, or some on goroutines of their own.
var lanes = []struct {
	name  string
	projs func() []projections.Projection
}{
	{"one-goroutine", func() []projections.Projection {
		ps := all()
		ps[2] = flaky{ps[2]}
		return ps
	}},
	{"worker-lanes", func() []projections.Projection {
		ps := all()
		ps[0], ps[2] = concurrent{ps[0]}, concurrent{flaky{ps[2]}}
		return ps
	}},
}

// dump returns every read-model key and value of a store (the consumers'
// own position keys excluded: feed's and consume's).
func dump(t *testing.T, st *projections.Store) map[string]string {
	t.Helper()
	sn, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	it, err := sn.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	m := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		k := string(it.Key())
		if bytes.HasPrefix(it.Key(), []byte("feed/")) || bytes.HasPrefix(it.Key(), []byte("\x00consume/")) || k == "rt/meta" {
			continue
		}
		m[k] = string(it.Value())
	}
	return m
}

func sameModel(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%s: %d keys vs %d", what, len(a), len(b))
	}
	n := 0
	for k, v := range a {
		if b[k] != v {
			if n++; n <= 3 {
				t.Errorf("%s: key %q:\n%s\nvs\n%s", what, k, v, b[k])
			}
		}
	}
}

// TestRebuildEqualsIncremental: a store fed while the ledger grows, in
// small and odd-sized batches, equals one built from scratch at the end.
func TestRebuildEqualsIncremental(t *testing.T) {
	for _, ln := range lanes {
		t.Run(ln.name, func(t *testing.T) { testRebuildEqualsIncremental(t, ln.projs) })
	}
}

func testRebuildEqualsIncremental(t *testing.T, all func() []projections.Projection) {
	recs := synth.Year(synth.Options{Seed: 3, Cases: 120, Spill: true})
	l := projtest.Ledger(t, recs[:1])
	rt := projtest.Runtime(t, l, t.TempDir(), feed.Options{BatchSize: 7})
	inc, err := rt.Register("read", all()...)
	if err != nil {
		t.Fatal(err)
	}
	projtest.Start(t, rt)
	for i := 1; i < len(recs); {
		n := min(len(recs)-i, 1+i%97)
		projtest.Append(t, l, recs[i:i+n])
		i += n
	}
	if err := inc.Wait(t.Context(), l.Head().Size); err != nil {
		t.Fatal(err)
	}
	full := projtest.Build(t, l, all()...)
	sameModel(t, "incremental vs rebuild", dump(t, inc), dump(t, full))
}

// TestRedeliveryAndCrash applies the same entries twice, and drops batches
// uncommitted mid-way, through the store's handler; the read model equals a
// clean build.
func TestRedeliveryAndCrash(t *testing.T) {
	for _, ln := range lanes {
		t.Run(ln.name, func(t *testing.T) { testRedeliveryAndCrash(t, ln.projs) })
	}
}

func testRedeliveryAndCrash(t *testing.T, all func() []projections.Projection) {
	recs := synth.Year(synth.Options{Seed: 5, Cases: 80})
	l := projtest.Ledger(t, recs[:1]) // the runtime applies entry 0; the test drives the rest

	var h projections.Handler
	dir := t.TempDir()
	rt, err := projections.New(projections.Config{
		Dir:  dir,
		Size: func(context.Context) (uint64, error) { return l.Head().Size, nil },
		Consume: func(db *pebble.DB, name string, hh projections.Handler) (projections.Consumer, error) {
			h = hh
			return feed.New(l, db, name, hh, feed.Options{})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Register("read", all()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	// The runtime makes the consumer (and its handler) when it starts.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	if err := st.Wait(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	projtest.Append(t, l, recs[1:])
	want := dump(t, projtest.Build(t, l, all()...))
	db, err := pebble.Open(filepath.Join(dir, "read", "b000001"), &pebble.Options{})
	if err == nil {
		db.Close()
		t.Fatal("build directory not locked while the runtime holds it")
	}
	// Drive the handler by hand on the runtime's own database.
	var entries []*ledger.Entry
	for _, raw := range l.Entries(0) {
		e, err := ledger.DecodeEntry(append([]byte(nil), raw...))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	sdb := storeDB(t, st)
	// tryApply applies entries[from:to] in one batch, flushes it and
	// commits it if commit is set, as a consumer does; it returns the
	// first error, and then drops the batch, as a consumer does.
	tryApply := func(from, to int, commit bool) error {
		b := sdb.NewBatch()
		defer b.Close()
		for _, e := range entries[from:to] {
			if err := h.Apply(t.Context(), b, e); err != nil {
				return fmt.Errorf("Apply(%d): %w", e.Seq, err)
			}
		}
		if commit {
			if err := h.Flush(t.Context(), b); err != nil {
				return fmt.Errorf("Flush: %w", err)
			}
			if err := b.Commit(pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	}
	apply := func(from, to int, commit bool) {
		t.Helper()
		if err := tryApply(from, to, commit); err != nil {
			t.Fatal(err)
		}
	}
	n := len(entries)
	apply(1, n/3, true)
	apply(n/3, n/2, false)   // crash: batch dropped uncommitted
	apply(n/3, 2*n/3, false) // and again, further
	apply(1, n/2, true)      // redelivery of committed entries and the lost ones
	apply(n/4, n/2, true)    // redelivery only
	// A projection fails on an entry mid-batch (on its own goroutine, the
	// failure surfaces at Flush): nothing of the batch is committed, and
	// the batch applies once the failure is gone.
	failOn.Store(entries[n/2+7].Seq)
	if err := tryApply(n/2, 3*n/4, true); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("batch with a failing entry: %v, want the injected failure", err)
	}
	if sz, err := st.Status(); err != nil || sz.Size != uint64(n/2) {
		t.Fatalf("after a failed batch: Status() = %+v, %v; want size %d", sz, err, n/2)
	}
	failOn.Store(0)
	apply(n/2, n, true)
	apply(n-5, n, true) // redelivery at the end
	if sz, err := st.Status(); err != nil || sz.Size != uint64(n) {
		t.Fatalf("Status() = %+v, %v; want size %d", sz, err, n)
	}
	got := dump(t, st)
	delete(got, "feed/read_b000001")
	sameModel(t, "after redelivery and dropped batches", got, want)
	if t.Failed() {
		return
	}
	// A gap is refused.
	b := sdb.NewBatch()
	defer b.Close()
	fake := *entries[n-1]
	fake.Seq = uint64(n + 5)
	if err := h.Apply(t.Context(), b, &fake); err == nil {
		t.Fatalf("Apply(gap) = nil, want an error")
	}

	// A consumer that commits a batch without flushing it is caught at the
	// next batch, before anything more is written.
	projtest.Append(t, l, synth.Year(synth.Options{Seed: 6, Cases: 1, Year: 2021}))
	var more []*ledger.Entry
	for _, raw := range l.Entries(uint64(n)) {
		e, err := ledger.DecodeEntry(append([]byte(nil), raw...))
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, e)
	}
	b1 := sdb.NewBatch()
	defer b1.Close()
	if err := h.Apply(t.Context(), b1, more[0]); err != nil {
		t.Fatal(err)
	}
	if err := b1.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b2 := sdb.NewBatch()
	defer b2.Close()
	if err := h.Apply(t.Context(), b2, more[1]); err == nil || !strings.Contains(err.Error(), "without flushing") {
		t.Fatalf("Apply(entry after an unflushed commit) = %v, want an error", err)
	}
}

func storeDB(t *testing.T, st *projections.Store) *pebble.DB {
	t.Helper()
	db := projections.DBForTest(st)
	if db == nil {
		t.Fatal("no db")
	}
	return db
}

type versioned struct {
	projections.Projection
	v int
}

func (p versioned) Version() int { return p.v }

// TestVersionChangeRebuilds: a store whose projection version changed keeps
// serving the old build until the new one has caught up, then swaps.
func TestVersionChangeRebuilds(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 9, Cases: 40})
	l := projtest.Ledger(t, recs)
	dir := t.TempDir()

	rt1 := projtest.Runtime(t, l, dir, feed.Options{})
	st1, err := rt1.Register("read", versioned{casefile.New(), 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- rt1.Run(ctx) }()
	if err := st1.Wait(t.Context(), l.Head().Size); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := dump(t, st1)
	rt1.Close()

	rt2 := projtest.Runtime(t, l, dir, feed.Options{})
	st2, err := rt2.Register("read", versioned{casefile.New(), 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st2.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Build != "b000001" || s.Building != "b000002" || s.Size != l.Head().Size {
		t.Fatalf("Status before Run = %+v, want the old build serving everything and b000002 building", s)
	}
	// The old build serves the full model before the new one exists.
	sameModel(t, "old build while rebuilding", dump(t, st2), want)
	projtest.Start(t, rt2)
	waitStatus(t, st2, func(s projections.Status) bool { return s.Build == "b000002" && s.Building == "" })
	if s, _ := st2.Status(); s.Versions["casefile"] != 2 {
		t.Fatalf("Status = %+v, want casefile version 2", s)
	}
	sameModel(t, "new build", dump(t, st2), want)

	// Rebuild on request, while serving.
	if err := rt2.Rebuild("casefile"); err != nil {
		t.Fatal(err)
	}
	projtest.Append(t, l, synth.Year(synth.Options{Seed: 10, Cases: 3, Year: 2021}))
	waitStatus(t, st2, func(s projections.Status) bool { return s.Build == "b000003" && s.Building == "" })
	if err := st2.Wait(t.Context(), l.Head().Size); err != nil {
		t.Fatal(err)
	}
	if err := rt2.Rebuild("nope"); err == nil {
		t.Errorf("Rebuild(nope) = nil, want ErrUnknown")
	}
}

// waitStatus waits for a swap until ok holds (the test's deadline bounds it).
func waitStatus(t *testing.T, st *projections.Store, ok func(projections.Status) bool) {
	t.Helper()
	for {
		ch := st.Changed()
		s, err := st.Status()
		if err != nil {
			t.Fatal(err)
		}
		if ok(s) {
			return
		}
		select {
		case <-ch:
		case <-t.Context().Done():
			t.Fatalf("Status = %+v: %v", s, t.Context().Err())
		}
	}
}

// TestDrop: a store in use is not dropped; a stopped one is, and the next
// start builds it again from the start.
func TestDrop(t *testing.T) {
	l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 15, Cases: 10}))
	dir := t.TempDir()
	rt := projtest.Runtime(t, l, dir, feed.Options{})
	st, err := rt.Register("read", all()...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(rt)
	wait(t, st, l.Head().Size)
	want := dump(t, st)
	if err := projections.Drop(dir, "read"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Drop(store in use) = %v, want an error", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := projections.Drop(dir, "read"); err != nil {
		t.Fatalf("Drop(stopped store) = %v", err)
	}
	if err := projections.Drop(dir, "read"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Drop(dropped store) = %v, want os.ErrNotExist", err)
	}
	rt = projtest.Runtime(t, l, dir, feed.Options{})
	if st, err = rt.Register("read", all()...); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Status(); s.Size != 0 || s.Build != "b000001" {
		t.Fatalf("Status after Drop = %+v, want an empty b000001", s)
	}
	projtest.Start(t, rt)
	wait(t, st, l.Head().Size)
	sameModel(t, "after Drop vs before", dump(t, st), want)
}

// TestCacheBounded: with a small cache limit and many small batches, each
// committed while the next is applied, the store handler's caches stay
// near the limit through a whole catch-up, and the read model is the same
// as a clean build's.
func TestCacheBounded(t *testing.T) {
	for _, ln := range lanes {
		t.Run(ln.name, func(t *testing.T) {
			defer projections.SetMaxCacheForTest(100)()
			l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 4, Cases: 400}))
			var h projections.Handler
			rt, err := projections.New(projections.Config{
				Dir:  t.TempDir(),
				Size: func(context.Context) (uint64, error) { return l.Head().Size, nil },
				Consume: func(db *pebble.DB, name string, hh projections.Handler) (projections.Consumer, error) {
					h = hh
					return feed.New(l, db, name, hh, feed.Options{BatchSize: 7})
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			st, err := rt.Register("read", ln.projs()...)
			if err != nil {
				t.Fatal(err)
			}
			projtest.Start(t, rt)
			if err := st.Wait(t.Context(), l.Head().Size); err != nil {
				t.Fatal(err)
			}
			// Each goroutine's cache may hold the limit and a batch's keys.
			goroutines := 1
			for _, p := range ln.projs() {
				if c, ok := p.(projections.Concurrent); ok && c.Concurrent() {
					goroutines++
				}
			}
			if n := projections.CacheLenForTest(h); n > 150*goroutines {
				t.Errorf("after catching up with %d entries the caches hold %d keys, want at most %d", l.Head().Size, n, 150*goroutines)
			}
			got := dump(t, st)
			for k := range got {
				if strings.HasPrefix(k, "feed/") {
					delete(got, k)
				}
			}
			sameModel(t, "small cache vs clean build", got, dump(t, projtest.Build(t, l, ln.projs()...)))
		})
	}
}

// TestStorageStats: a store reports its Pebble figures while open (what it
// wrote, what it takes on disk), and nothing once closed.
func TestStorageStats(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 3, Cases: 20})
	l := projtest.Ledger(t, recs)
	rt := projtest.Runtime(t, l, t.TempDir(), feed.Options{BatchSize: 50})
	st, err := rt.Register("read", lanes[0].projs()...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	if err := st.Wait(ctx, l.Head().Size); err != nil {
		t.Fatal(err)
	}
	s, ok := st.StorageStats()
	if !ok || s.WALBytesWritten == 0 || s.DiskBytes == 0 {
		t.Errorf("StorageStats of an open store = %+v, %v; want WAL bytes written and disk bytes", s, ok)
	}
	cancel()
	<-done
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if s, ok := st.StorageStats(); ok {
		t.Errorf("StorageStats of a closed store = %+v, true", s)
	}
}
