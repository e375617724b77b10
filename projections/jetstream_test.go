package projections_test

// Integration tests of the projections as liuhen serve and liuhen project
// run them: a real ledger, the real relay publishing it to a real embedded
// nats-server with JetStream, and the runtime fed by projections/consume.
// The reference each time is a store built straight from the ledger
// (projtest.Build, through internal/feed).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
)

// counter counts the entries applied to its store, and fails on any entry
// that is not the next one: an entry applied twice, or one skipped, stops
// the store. Its count is in the read model, so a batch dropped at a crash
// drops its counts too.
type counter struct{}

var counterKey = []byte("test/count")

func (counter) Name() string { return "counter" }
func (counter) Version() int { return 1 }
func (counter) Apply(_ context.Context, tx *projections.Tx, e *projections.Entry) error {
	n, err := projections.Load(tx, counterKey, func(b []byte) (*uint64, error) {
		v := binary.BigEndian.Uint64(b)
		return &v, nil
	})
	if err != nil {
		return err
	}
	if n == nil {
		n = new(uint64)
	}
	if *n != e.Seq {
		return fmt.Errorf("entry %d applied after %d entries", e.Seq, *n)
	}
	*n++
	return projections.Save(tx, counterKey, n, func(v *uint64) ([]byte, error) {
		return binary.BigEndian.AppendUint64(nil, *v), nil
	})
}

func counted(t *testing.T, st *projections.Store) uint64 {
	t.Helper()
	sn, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	v, err := sn.Get(counterKey)
	if err != nil || len(v) != 8 {
		t.Fatalf("count: %x, %v", v, err)
	}
	return binary.BigEndian.Uint64(v)
}

// errCrash is the failure crashing injects.
var errCrash = errors.New("injected crash")

// crashing is a projection that fails once at each seq of at, as if the
// process died while applying that entry: its batch, holding the entries
// before it, is never committed. It has the name and version of the
// projection it wraps, so a restart without it resumes the same build.
type crashing struct {
	projections.Projection
	mu sync.Mutex
	at map[uint64]bool // seqs still to crash at
}

func (c *crashing) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	c.mu.Lock()
	crash := c.at[e.Seq]
	delete(c.at, e.Seq)
	c.mu.Unlock()
	if crash {
		return fmt.Errorf("entry %d: %w", e.Seq, errCrash)
	}
	return c.Projection.Apply(ctx, tx, e)
}

// run runs rt until stop is called, which returns Run's error.
func run(rt *projections.Runtime) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		rt.Close()
		return err
	}
}

func wait(t *testing.T, st *projections.Store, size uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := st.Wait(ctx, size); err != nil {
		s, _ := st.Status()
		t.Fatalf("Wait(%d): %v (status %+v)", size, err, s)
	}
}

// TestJetStreamEqualsDirect: entries appended while the store follows the
// stream, with a restart half-way, give the read models of a direct build.
func TestJetStreamEqualsDirect(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 11, Cases: 150, Spill: true})
	l := projtest.Ledger(t, recs[:100])
	n := projtest.JetStream(t, l)
	dir := t.TempDir()
	opts := consume.Options{Batch: 64}

	rt := projtest.RuntimeJS(t, l, n, dir, opts)
	st, err := rt.Register("read", append(all(), counter{})...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(rt)
	half := len(recs) / 2
	for i := 100; i < half; i += 37 {
		projtest.Append(t, l, recs[i:min(i+37, half)])
	}
	wait(t, st, uint64(half))
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Restarted, while the rest arrives.
	rt = projtest.RuntimeJS(t, l, n, dir, opts)
	if st, err = rt.Register("read", append(all(), counter{})...); err != nil {
		t.Fatal(err)
	}
	stop = run(rt)
	defer stop()
	for i := half; i < len(recs); i += 53 {
		projtest.Append(t, l, recs[i:min(i+53, len(recs))])
	}
	size := l.Head().Size
	wait(t, st, size)
	if got := counted(t, st); got != size {
		t.Errorf("counter = %d, want %d: an entry was applied twice or not at all", got, size)
	}
	got := dump(t, st)
	delete(got, string(counterKey))
	sameModel(t, "through JetStream vs direct", got, dump(t, projtest.Build(t, l, all()...)))
}

// TestJetStreamCrashMidBatch: the store dies in the middle of batches, at
// several places; restarted each time, it applies nothing twice and ends
// equal to a direct build. Then the server's durable consumer is reset to
// redeliver everything from the start, which changes nothing either.
//
// It runs twice: with every projection on the consumer's goroutine, and
// with the crashing one on a worker lane, where its failure surfaces at the
// batch's flush, with the batch's commit of the one before it in flight.
func TestJetStreamCrashMidBatch(t *testing.T) {
	for _, lane := range []bool{false, true} {
		t.Run(map[bool]string{false: "one-goroutine", true: "worker-lane"}[lane], func(t *testing.T) {
			testJetStreamCrashMidBatch(t, lane)
		})
	}
}

func testJetStreamCrashMidBatch(t *testing.T, lane bool) {
	recs := synth.Year(synth.Options{Seed: 12, Cases: 120})
	l := projtest.Ledger(t, recs)
	size := l.Head().Size
	n := projtest.JetStream(t, l)
	n.Published(t, size)
	dir := t.TempDir()
	opts := consume.Options{Batch: 64}
	// Batches hold up to 64 entries, and take what has arrived: each crash
	// falls in the middle of one (the log shows the store holding fewer
	// entries than the crash's seq: the batches before it).
	crash := &crashing{Projection: all()[0], at: map[uint64]bool{100: true, 101: true, 333: true, size - 10: true}}
	projs := func() []projections.Projection {
		var first projections.Projection = crash
		if lane {
			first = concurrent{crash}
		}
		return append([]projections.Projection{first}, append(all()[1:], counter{})...)
	}

	for restarts := 0; ; restarts++ {
		if restarts > 10 {
			t.Fatal("still crashing after 10 restarts")
		}
		rt := projtest.RuntimeJS(t, l, n, dir, opts)
		st, err := rt.Register("read", projs()...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		caught := make(chan error, 1)
		go func() { caught <- st.Wait(ctx, size) }()
		select {
		case err := <-done:
			cancel()
			<-caught
			s, _ := st.Status()
			rt.Close()
			if !errors.Is(err, errCrash) {
				t.Fatalf("Run = %v, want the injected crash", err)
			}
			t.Logf("restart %d after %v; the store holds %d entries", restarts, err, s.Size)
			continue
		case err := <-caught:
			cancel()
			if rerr := <-done; rerr != nil {
				t.Fatalf("Run = %v", rerr)
			}
			rt.Close()
			if err != nil {
				t.Fatalf("Wait(%d) = %v", size, err)
			}
		}
		break
	}
	if len(crash.at) != 0 {
		t.Fatalf("never reached seqs %v", crash.at)
	}

	// The server forgets the consumer's progress: everything is redelivered.
	const durable = "read_b000001"
	if err := n.JS.DeleteConsumer(t.Context(), n.Layout.Events, durable); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JS.CreateConsumer(t.Context(), n.Layout.Events, jetstream.ConsumerConfig{Durable: durable, AckPolicy: jetstream.AckAllPolicy}); err != nil {
		t.Fatal(err)
	}
	more := synth.Year(synth.Options{Seed: 13, Cases: 5, Year: 2021})
	projtest.Append(t, l, more)
	size = l.Head().Size
	rt := projtest.RuntimeJS(t, l, n, dir, opts)
	st, err := rt.Register("read", projs()...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(rt)
	defer stop()
	wait(t, st, size)
	if got := counted(t, st); got != size {
		t.Errorf("counter = %d, want %d: an entry was applied twice or not at all", got, size)
	}
	got := dump(t, st)
	delete(got, string(counterKey))
	sameModel(t, "after crashes and redelivery vs direct", got, dump(t, projtest.Build(t, l, all()...)))
}

// TestJetStreamRebuild: a rebuild requested while the store serves reads
// the stream again from the start under its own durable consumer and, once
// swapped in, equals the incremental build it replaces; so does a rebuild
// for a changed version.
func TestJetStreamRebuild(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 14, Cases: 100, Spill: true})
	l := projtest.Ledger(t, recs[:len(recs)/2])
	n := projtest.JetStream(t, l)
	dir := t.TempDir()
	opts := consume.Options{Batch: 100}
	rt := projtest.RuntimeJS(t, l, n, dir, opts)
	st, err := rt.Register("read", all()...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(rt)
	projtest.Append(t, l, recs[len(recs)/2:])
	size := l.Head().Size
	wait(t, st, size)
	incremental := dump(t, st)

	if err := rt.Rebuild("report"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, st, func(s projections.Status) bool { return s.Build == "b000002" && s.Building == "" })
	wait(t, st, size)
	sameModel(t, "rebuilt through JetStream vs incremental", dump(t, st), incremental)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// A new version of one projection: the next start rebuilds from the
	// stream while b000002 serves, then swaps.
	rt = projtest.RuntimeJS(t, l, n, dir, opts)
	projs := all()
	projs[2] = versioned{projs[2], 99}
	if st, err = rt.Register("read", projs...); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Status(); s.Build != "b000002" || s.Building != "b000003" || s.Size != size {
		t.Fatalf("Status before Run = %+v, want b000002 serving %d entries and b000003 building", s, size)
	}
	stop = run(rt)
	defer stop()
	waitStatus(t, st, func(s projections.Status) bool { return s.Build == "b000003" && s.Building == "" })
	sameModel(t, "version change rebuilt through JetStream vs incremental", dump(t, st), incremental)
	sameModel(t, "incremental vs direct", incremental, dump(t, projtest.Build(t, l, all()...)))
}
