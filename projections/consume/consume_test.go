package consume_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/outbox"
	"github.com/liuhen/liuhen/projections/consume"
)

const origin = "liuhen.test/consume"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newLedger(t testing.TB) *ledger.Ledger {
	t.Helper()
	skey, _, _ := ledger.GenerateKey(origin)
	s, err := ledger.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Create(ledger.Config{Dir: t.TempDir() + "/ledger", Origin: origin, Signer: s, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func record(i int) []byte {
	c := ""
	if i%4 != 0 {
		c = fmt.Sprintf(`"case_id":"0193f09e-1111-7000-8000-%012d",`, i%9)
	}
	id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "consume/%d", i))
	return fmt.Appendf(nil, `{"id":"%s","type":"inspection.recorded",%s"occurred_at":"2026-05-12T09:31:02+08:00","device":{"id":"ZFY-1","seq":%d},"data":{"n":%d}}`, id, c, i, i)
}

func appendRange(t testing.TB, l *ledger.Ledger, from, to int) {
	t.Helper()
	for i := from; i < to; i += 500 {
		var raws [][]byte
		for j := i; j < min(i+500, to); j++ {
			raws = append(raws, record(j))
		}
		if _, err := l.Append(context.Background(), raws); err != nil {
			t.Fatal(err)
		}
	}
}

// server starts an in-process JetStream server with the streams.
func server(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := natsrv.Embed(natsrv.EmbedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := natsrv.ConnectEmbedded(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := natsrv.EnsureStreams(context.Background(), js, natsrv.NewLayout(origin), 1); err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// relay publishes l until cleanup and returns once size entries are out.
func relay(t testing.TB, l *ledger.Ledger, nc *nats.Conn) *outbox.Relay {
	t.Helper()
	r, err := outbox.New(l, nc, outbox.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func published(t testing.TB, r *outbox.Relay, n uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Wait(ctx, n); err != nil {
		t.Fatalf("relay: %v (%+v)", err, r.Status())
	}
}

func openDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: vfs.NewMem(), Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

// recorder is a Handler that writes "r/<seq>" -> id into the batch and
// remembers every seq it was given.
type recorder struct {
	mu   sync.Mutex
	seqs []uint64
}

func (r *recorder) Apply(_ context.Context, b *pebble.Batch, e *ledger.Entry) error {
	r.mu.Lock()
	r.seqs = append(r.seqs, e.Seq)
	r.mu.Unlock()
	return b.Set(binary.BigEndian.AppendUint64([]byte("r/"), e.Seq), e.ID[:], nil)
}

func (r *recorder) applied() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seqs...)
}

// running is a consumer running in the background.
type running struct {
	*consume.Consumer
	cancel context.CancelFunc
	done   chan error
}

func run(t testing.TB, js jetstream.JetStream, db *pebble.DB, name string, h consume.Handler) *running {
	t.Helper()
	return runWith(t, js, db, name, h, consume.Options{Batch: 256})
}

// runWith is run with opts (quiet logging added).
func runWith(t testing.TB, js jetstream.JetStream, db *pebble.DB, name string, h consume.Handler, opts consume.Options) *running {
	t.Helper()
	opts.Logger = quiet
	c, err := consume.New(js, db, name, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) stop() error {
	r.cancel()
	err := <-r.done
	r.done <- err
	return err
}

func (r *running) caught(t testing.TB, size uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- r.Caught(ctx, size) }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Caught(%d) at position %d: %v", size, r.Position(), err)
		}
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run() = %v at position %d, want to reach %d", err, r.Position(), size)
	}
}

// exactlyInOrder checks that seqs is 0..n-1.
func exactlyInOrder(t testing.TB, seqs []uint64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("handler saw %d entries, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i) {
			t.Fatalf("handler's entry %d is seq %d", i, s)
		}
	}
}

// TestConsumeAll: N entries appended, the consumer applies exactly N, in
// order, verified, with its position in the same store.
func TestConsumeAll(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 1500)
	relay(t, l, nc)
	db := openDB(t)
	h := &recorder{}
	c := run(t, js, db, "all", h)
	c.caught(t, 1500)
	appendRange(t, l, 1500, 2000) // live
	c.caught(t, 2000)
	exactlyInOrder(t, h.applied(), 2000)

	it, _ := db.NewIter(&pebble.IterOptions{LowerBound: []byte("r/"), UpperBound: []byte("r0")})
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	it.Close()
	if n != 2000 {
		t.Errorf("read model has %d keys, want 2000", n)
	}
	v, closer, err := db.Get(consume.PositionKey("all"))
	if err != nil {
		t.Fatal(err)
	}
	last, _ := l.LeafHashAt(1999)
	if binary.BigEndian.Uint64(v) != 2000 || string(v[8:]) != string(last[:]) {
		t.Errorf("stored position %x, want 2000 and the leaf hash of entry 1999", v)
	}
	closer.Close()
}

// TestRedeliveriesSkipped: the server redelivers everything from the start
// (its durable was reset); the consumer resumes from its stored position and
// last hash and applies nothing twice.
func TestRedeliveriesSkipped(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 1000)
	relay(t, l, nc)
	db := openDB(t)
	h := &recorder{}
	c := run(t, js, db, "redeliver", h)
	c.caught(t, 1000)
	c.stop()

	// A durable that starts over at seq 0, and more entries.
	if err := js.DeleteConsumer(t.Context(), "LIUHEN_EVENTS", "redeliver"); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(t.Context(), "LIUHEN_EVENTS", jetstream.ConsumerConfig{Durable: "redeliver", AckPolicy: jetstream.AckAllPolicy}); err != nil {
		t.Fatal(err)
	}
	appendRange(t, l, 1000, 1300)
	c = run(t, js, db, "redeliver", h)
	c.caught(t, 1300)
	exactlyInOrder(t, h.applied(), 1300)
}

// TestDurableAhead: a reader store that is behind the server's durable (a
// restored backup, here a new store) gets the durable recreated at its own
// position and sees every entry.
func TestDurableAhead(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 700)
	relay(t, l, nc)
	c := run(t, js, openDB(t), "ahead", &recorder{})
	c.caught(t, 700)
	c.stop()

	h := &recorder{}
	c = run(t, js, openDB(t), "ahead", h)
	c.caught(t, 700)
	exactlyInOrder(t, h.applied(), 700)
}

// TestTamperInTransit hands the consumer a stream in which entry 40's
// payload was altered, with and without fixing the leaf hash header. It is
// refused, naming the seq, and nothing after it is applied.
func TestTamperInTransit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fixHeader bool
		wantSeq   uint64 // where the chain breaks
		wantWhat  string
	}{
		{"payload", false, 40, "leaf hash"},
		{"payload and header", true, 41, "prev"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger(t)
			appendRange(t, l, 0, 100)
			_, js := server(t)
			lay := natsrv.NewLayout(origin)
			for seq, b := range l.Entries(0) {
				e, _ := ledger.DecodeEntry(b)
				data := append([]byte(nil), b...)
				leaf := ledger.Hex(ledger.LeafHash(b))
				if seq == 40 {
					data = bytes.Replace(data, []byte(`"n":40}`), []byte(`"n":41}`), 1) // a different number
					if tc.fixHeader {
						leaf = ledger.Hex(ledger.LeafHash(data))
					}
				}
				m := &nats.Msg{Subject: lay.EventSubject(e.Type, e.CaseID), Data: data, Header: nats.Header{
					natsrv.HeaderSeq:      {strconv.FormatUint(seq, 10)},
					natsrv.HeaderLeafHash: {leaf},
				}}
				if _, err := js.PublishMsg(t.Context(), m, jetstream.WithExpectLastSequence(seq)); err != nil {
					t.Fatal(err)
				}
			}
			h := &recorder{}
			c := run(t, js, openDB(t), "tamper", h)
			var err error
			select {
			case err = <-c.done:
				c.done <- err
			case <-time.After(30 * time.Second):
				t.Fatalf("Run did not stop; position %d", c.Position())
			}
			var ce *ledger.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.wantSeq || ce.What[:len(tc.wantWhat)] != tc.wantWhat || !errors.Is(err, ledger.ErrCorrupt) {
				t.Fatalf("Run() = %v, want a ChainError at seq %d (%s)", err, tc.wantSeq, tc.wantWhat)
			}
			t.Logf("Run() = %v", err)
			if c.Position() != tc.wantSeq {
				t.Errorf("Position() = %d, want %d: everything before the break, nothing after", c.Position(), tc.wantSeq)
			}
			exactlyInOrder(t, h.applied(), int(tc.wantSeq))
		})
	}
}

// failing fails once, at entry at, as if the process died there.
type failing struct {
	*recorder
	at     uint64
	failed bool
}

var errFail = errors.New("injected failure")

func (f *failing) Apply(ctx context.Context, b *pebble.Batch, e *ledger.Entry) error {
	if e.Seq == f.at && !f.failed {
		f.failed = true
		return errFail
	}
	return f.recorder.Apply(ctx, b, e)
}

// TestCrashMidBatchResumes: the handler fails in the middle of a batch,
// with later entries delivered and never acknowledged; a new consumer on
// the same store resumes at the committed position at once (the durable
// consumer is recreated there rather than left to redeliver after
// AckWait) and sees every entry after it exactly once.
func TestCrashMidBatchResumes(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 1200)
	published(t, relay(t, l, nc), 1200)
	db := openDB(t)
	h := &failing{recorder: &recorder{}, at: 700}
	c := run(t, js, db, "crash", h)
	select {
	case err := <-c.done:
		c.done <- err
		if !errors.Is(err, errFail) {
			t.Fatalf("Run() = %v, want the injected failure", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not stop at entry 700; position %d", c.Position())
	}
	pos := c.Position()
	if pos > 700 || pos == 0 {
		t.Fatalf("Position() = %d after failing at 700, want the batches before it committed", pos)
	}
	after := &recorder{}
	c = run(t, js, db, "crash", after)
	c.caught(t, 1200)
	seqs := after.applied()
	if len(seqs) != int(1200-pos) {
		t.Fatalf("after the restart the handler saw %d entries, want %d", len(seqs), 1200-pos)
	}
	for i, s := range seqs {
		if s != pos+uint64(i) {
			t.Fatalf("after the restart, entry %d is seq %d, want %d", i, s, pos+uint64(i))
		}
	}
}

// preparer prepares each entry as its seq doubled, and fails to prepare
// entry failAt.
type preparer struct {
	*recorder
	failAt uint64
	bad    []uint64 // entries applied with something else than their preparation
	mu     sync.Mutex
}

var errPrepare = errors.New("prepare failed")

func (p *preparer) Prepare(e *ledger.Entry) (any, error) {
	if e.Seq == p.failAt {
		return nil, errPrepare
	}
	return 2 * e.Seq, nil
}

func (p *preparer) ApplyPrepared(ctx context.Context, b *pebble.Batch, e *ledger.Entry, prepared any) error {
	if prepared != 2*e.Seq {
		p.mu.Lock()
		p.bad = append(p.bad, e.Seq)
		p.mu.Unlock()
	}
	return p.recorder.Apply(ctx, b, e)
}

func (p *preparer) Apply(context.Context, *pebble.Batch, *ledger.Entry) error {
	return errors.New("Apply called on a Preparer")
}

// TestPreparer: a Preparer's entries come with their own preparation, in
// order; a preparation that failed stops Run at that entry.
func TestPreparer(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 900)
	published(t, relay(t, l, nc), 900)
	h := &preparer{recorder: &recorder{}, failAt: 800}
	c := run(t, js, openDB(t), "prepare", h)
	var err error
	select {
	case err = <-c.done:
		c.done <- err
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not stop; position %d", c.Position())
	}
	if !errors.Is(err, errPrepare) || c.Position() > 800 {
		t.Fatalf("Run() = %v at position %d, want the preparation error of entry 800", err, c.Position())
	}
	exactlyInOrder(t, h.applied()[:c.Position()], int(c.Position()))
	if len(h.bad) > 0 {
		t.Fatalf("entries %v applied with another entry's preparation", h.bad)
	}
}

// batcher is a recorder that also records the size of every batch (the
// entries applied between flushes).
type batcher struct {
	recorder
	n     int
	sizes []int
}

func (b *batcher) Apply(ctx context.Context, pb *pebble.Batch, e *ledger.Entry) error {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return b.recorder.Apply(ctx, pb, e)
}

func (b *batcher) Flush(context.Context, *pebble.Batch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, b.n)
	b.n = 0
	return nil
}

// TestLinger: a batch that is not full waits for more entries (here for
// as long as it takes): live entries arriving in small groups are applied
// in full batches only.
func TestLinger(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 1)
	relay(t, l, nc)
	db := openDB(t)
	h := &batcher{}
	r := runWith(t, js, db, "linger", h, consume.Options{Batch: 50, Linger: time.Hour})
	for i := 1; i < 150; i += 7 { // live, in groups of 7
		appendRange(t, l, i, min(i+7, 150))
	}
	r.caught(t, 150)
	h.mu.Lock()
	sizes := append([]int(nil), h.sizes...)
	h.mu.Unlock()
	if !slices.Equal(sizes, []int{50, 50, 50}) {
		t.Errorf("batch sizes %v, want three full batches of 50", sizes)
	}
	exactlyInOrder(t, h.applied(), 150)
}

// settler is a recorder that asks, before every batch, for the batches
// before it to be committed, and checks at each batch's first entry that
// they are.
type settler struct {
	recorder
	db     *pebble.DB
	name   string
	behind []uint64 // first entries of batches that began before the last commit landed
}

func (s *settler) Settle() bool { return true }

func (s *settler) Apply(ctx context.Context, b *pebble.Batch, e *ledger.Entry) error {
	if b.Empty() && e.Seq > 0 {
		v, closer, err := s.db.Get(consume.PositionKey(s.name))
		if err != nil {
			return err
		}
		if binary.BigEndian.Uint64(v) != e.Seq {
			s.mu.Lock()
			s.behind = append(s.behind, e.Seq)
			s.mu.Unlock()
		}
		closer.Close()
	}
	return s.recorder.Apply(ctx, b, e)
}

// TestSettler: a Settler that asks for it gets every earlier batch
// committed before its next batch begins.
func TestSettler(t *testing.T) {
	l := newLedger(t)
	nc, js := server(t)
	appendRange(t, l, 0, 600)
	relay(t, l, nc)
	db := openDB(t)
	h := &settler{db: db, name: "settle"}
	r := runWith(t, js, db, "settle", h, consume.Options{Batch: 5})
	r.caught(t, 600)
	exactlyInOrder(t, h.applied(), 600)
	if len(h.behind) > 0 {
		t.Errorf("batches beginning at %v began before the batch before them was committed", h.behind)
	}
}
