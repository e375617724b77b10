package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/ledger"
)

// A Concurrent projection is applied on a goroutine of its own, beside the
// store's other projections, when Concurrent returns true: for a projection
// whose Apply costs as much as the others together (the compliance rules),
// so that a catch-up uses a second core. What it writes, and when it is
// committed, do not change: its writes join the consumer's batch at Flush.
//
// A projection may read only keys it writes itself (its own key prefix):
// projections of different goroutines do not see each other's uncommitted
// writes. It must not keep e, or anything of e's, after Apply returns, nor
// modify it: the projections of other goroutines read the same decoded
// members at the same time.
type Concurrent interface {
	Projection
	Concurrent() bool
}

// keyApplied holds the seq of the last entry applied to the store, 8 bytes
// big-endian. It is written in the same batch as the entries' writes: by
// the batch's first entry (so that the batch is never empty after it) and
// by Flush, for the last.
var keyApplied = []byte("rt/applied")

// maxCache is how many keys a lane keeps between entries before they are
// dropped (once they are known to be committed). A variable for tests.
var maxCache = 1 << 16

// storeHandler applies entries to every projection of a store. It implements
// the consumer's Handler contract (projections/consume): it writes only into
// the batch it is given. It is used by one consumer goroutine at a time.
//
// The consumer owns the batch: it may hold many entries, and it may be
// dropped uncommitted after a failure, in which case the consumer starts
// again from its committed position. The handler does not rely on either:
// it keeps its own applied seq in the batch, skips entries at or below the
// committed one (so a redelivery applies nothing twice even if the
// consumer's own position were behind), and trusts its caches of uncommitted
// writes only while entries arrive exactly one after the other. Any other
// seq, or an error, drops the caches and reads the committed state again.
//
// The projections are applied in lanes: lanes[0] on the consumer's
// goroutine, straight into its batch, and one lane per Concurrent projection
// on a goroutine of its own, into a batch of its own that Flush appends to
// the consumer's. Each lane sees the entries in order and keeps its own
// cache; a worker lane's error is reported by the next Flush (or Apply
// after it), before anything of the batch is committed.
type storeHandler struct {
	db    *pebble.DB
	lanes []*lane

	last      uint64 // seq of the last entry applied through the caches
	hasLast   bool   // last is valid: the caches continue from it
	unflushed bool   // entries were applied since the last Flush
	sent      bool   // entries went to worker lanes since they last synced
	large     bool   // a worker lane's cache was over maxCache at its last sync
}

// lane is a group of a store's projections applied one after the other,
// with a cache of the writes not known to be committed.
type lane struct {
	db    *pebble.DB
	projs []Projection
	cache map[string]cached      // writes since the last known committed point
	fresh map[uuid.UUID]struct{} // cases begun (case_seq 1) since cache was last emptied
	dirty []string               // keys saved since the last flush, in cache with enc set

	// A worker lane's own goroutine, batch and copies of the entries'
	// bytes. Between a sync's reply and the next message, everything here
	// belongs to the consumer's goroutine.
	b     *pebble.Batch
	in    chan laneMsg
	out   chan error
	err   error  // first error since the last sync
	arena []byte // the bytes of the entries sent since the last sync
}

// laneMsg is an entry for a worker lane to apply, or, with e nil, a sync:
// the worker replies with its first error since the last sync, after
// flushing its saved objects into its batch if flush is set.
type laneMsg struct {
	ctx   context.Context
	e     *Entry
	flush bool
}

// laneBatchRetained is the largest buffer a worker lane's batch keeps
// between batches.
const laneBatchRetained = 16 << 20

func newStoreHandler(db *pebble.DB, projs []Projection) *storeHandler {
	h := &storeHandler{db: db, lanes: []*lane{newLane(db)}}
	for _, p := range projs {
		if c, ok := p.(Concurrent); ok && c.Concurrent() {
			l := newLane(db)
			l.projs = []Projection{p}
			// The lane's batch is reset, not replaced, after each flush;
			// Pebble drops a buffer over 1 MiB at a reset, and a catch-up
			// batch's writes pass that, which cost a fresh buffer grown
			// by doubling for every batch.
			l.b = db.NewBatch(pebble.WithMaxRetainedSizeBytes(laneBatchRetained))
			h.lanes = append(h.lanes, l)
			continue
		}
		h.lanes[0].projs = append(h.lanes[0].projs, p)
	}
	return h
}

func newLane(db *pebble.DB) *lane {
	return &lane{db: db, cache: make(map[string]cached), fresh: make(map[uuid.UUID]struct{})}
}

// close stops the worker lanes' goroutines, after dropping what was not
// flushed. A later Apply starts them again.
func (h *storeHandler) close() {
	h.reset()
	for _, l := range h.lanes[1:] {
		if l.in != nil {
			close(l.in)
			l.in, l.out = nil, nil
		}
	}
}

// Apply implements the consumer's Handler.
func (h *storeHandler) Apply(ctx context.Context, b *pebble.Batch, le *ledger.Entry) error {
	return h.apply(ctx, b, le, nil)
}

// Prepare implements consume.Preparer: the entry is decoded on the
// consumer's delivery goroutine, beside the projections' work on earlier
// entries.
func (h *storeHandler) Prepare(le *ledger.Entry) (any, error) { return Decode(le) }

// ApplyPrepared implements consume.Preparer.
func (h *storeHandler) ApplyPrepared(ctx context.Context, b *pebble.Batch, le *ledger.Entry, prepared any) error {
	e, _ := prepared.(*Entry)
	return h.apply(ctx, b, le, e)
}

// apply applies le, decoded as e (nil: decode it here).
func (h *storeHandler) apply(ctx context.Context, b *pebble.Batch, le *ledger.Entry, e *Entry) (err error) {
	if !h.hasLast || le.Seq != h.last+1 || (b.Empty() && h.Settle()) {
		applied, ok, err := readApplied(h.db)
		if err != nil {
			return err
		}
		inOrder := h.hasLast && le.Seq == h.last+1
		committed := h.hasLast && ok && applied == h.last // all cached writes are committed
		switch {
		case inOrder && committed && !h.unflushed:
			h.reset() // too large, and safe to drop
			h.last, h.hasLast = applied, true
		case inOrder:
			// A batch is in progress: its writes live only in the caches.
		default:
			h.reset()
			if ok && le.Seq <= applied {
				return nil // already applied: a redelivery
			}
			if (ok && le.Seq != applied+1) || (!ok && le.Seq != 0) {
				return fmt.Errorf("projections: entry %d arrived, the store holds entries up to %s", le.Seq, appliedString(applied, ok))
			}
		}
	}
	if h.unflushed && b.Empty() {
		// Entries of an earlier batch left writes in memory, and this is
		// a new batch: the earlier one was committed (or dropped) unflushed.
		h.reset()
		return fmt.Errorf("projections: entry %d: the consumer started a new batch without flushing the last one", le.Seq)
	}
	defer func() {
		if err != nil {
			h.reset()
		}
	}()
	if e == nil || e.Entry != le {
		if e, err = Decode(le); err != nil {
			return err
		}
	}
	if b.Empty() {
		if err := setApplied(b, le.Seq); err != nil {
			return err
		}
	}
	for _, l := range h.lanes[1:] {
		l.send(laneMsg{ctx: ctx, e: l.copyEntry(e)})
		h.sent = true
	}
	if err := h.lanes[0].apply(ctx, b, e); err != nil {
		return err
	}
	h.last, h.hasLast, h.unflushed = le.Seq, true, true
	return nil
}

// Settle reports whether the handler's caches have outgrown maxCache: they
// are dropped at the start of the next batch if every batch given so far
// is committed by then. A consumer that commits a batch while it applies
// the next (projections/internal/commitq) waits for its commit in flight
// before that batch when Settle is true; otherwise the caches would keep
// every key of a long catch-up. It is called between batches.
func (h *storeHandler) Settle() bool {
	return h.large || len(h.lanes[0].cache) > maxCache
}

func setApplied(b *pebble.Batch, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return b.Set(keyApplied, v[:], nil)
}

// Flush implements the consumer's Handler: it writes every object saved
// since the last flush into b, and the worker lanes' writes, which the
// consumer then commits.
func (h *storeHandler) Flush(ctx context.Context, b *pebble.Batch) error {
	if err := h.lanes[0].flush(b); err != nil {
		h.reset()
		return err
	}
	if err := h.sync(b); err != nil {
		h.reset()
		return err
	}
	if h.unflushed {
		if err := setApplied(b, h.last); err != nil {
			h.reset()
			return err
		}
		h.unflushed = false
	}
	return nil
}

// sync waits until the worker lanes have applied every entry sent to them.
// With b, they flush their saved objects into their batches, which are
// then appended to b; without, their writes are dropped. It returns the
// first error of any lane.
func (h *storeHandler) sync(b *pebble.Batch) error {
	if !h.sent {
		return nil
	}
	for _, l := range h.lanes[1:] {
		l.send(laneMsg{flush: b != nil})
	}
	var first error
	h.large = false
	for _, l := range h.lanes[1:] {
		err := <-l.out
		if err == nil && b != nil {
			err = b.Apply(l.b, nil)
		}
		if first == nil {
			first = err
		}
		l.b.Reset()
		l.arena = l.arena[:0]
		h.large = h.large || len(l.cache) > maxCache
	}
	h.sent = false
	return first
}

// reset forgets everything not known to be committed.
func (h *storeHandler) reset() {
	h.sync(nil)
	for _, l := range h.lanes {
		clear(l.cache)
		clear(l.fresh)
		l.dirty = l.dirty[:0]
	}
	h.hasLast, h.unflushed, h.large = false, false, false
}

// send sends m to the worker lane's goroutine, starting it if need be.
func (l *lane) send(m laneMsg) {
	if l.in == nil {
		l.in, l.out = make(chan laneMsg, 256), make(chan error)
		go l.run(l.in, l.out)
	}
	l.in <- m
}

// run is a worker lane's goroutine.
func (l *lane) run(in <-chan laneMsg, out chan<- error) {
	for m := range in {
		if m.e == nil {
			err := l.err
			if err == nil && m.flush {
				err = l.flush(l.b)
			}
			l.err = nil
			out <- err
			continue
		}
		if l.err == nil {
			l.err = l.apply(m.ctx, l.b, m.e)
		}
	}
}

// apply applies e to the lane's projections, writing into b.
func (l *lane) apply(ctx context.Context, b *pebble.Batch, e *Entry) error {
	if e.CaseSeq == 1 {
		l.fresh[e.CaseID] = struct{}{}
	}
	tx := &Tx{b: b, h: l, e: e}
	for _, p := range l.projs {
		if err := p.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("projections: %s: entry %d: %w", p.Name(), e.Seq, err)
		}
	}
	return nil
}

// flush writes every object the lane saved since its last flush into b.
func (l *lane) flush(b *pebble.Batch) error {
	for _, k := range l.dirty {
		c := l.cache[k]
		if c.enc == nil {
			continue // overwritten by Set or Delete since
		}
		v, err := c.enc()
		if err == nil {
			err = b.Set([]byte(k), v, nil)
		}
		if err != nil {
			return fmt.Errorf("projections: writing %q: %w", k, err)
		}
		c.enc = nil
		l.cache[k] = c
	}
	l.dirty = l.dirty[:0]
	return nil
}

// copyEntry returns e with its bytes copied into the lane's arena: the
// consumer may reuse e.Bytes once Apply returns, before the worker gets to
// it. The decoded members are shared (read-only).
func (l *lane) copyEntry(e *Entry) *Entry {
	off := len(l.arena)
	l.arena = append(l.arena, e.Bytes...)
	le := *e.Entry
	le.Bytes = l.arena[off:len(l.arena):len(l.arena)]
	ce := *e
	ce.Entry = &le
	if len(e.Data) > 0 {
		// Data is a slice of Bytes (Decode), at the same offset in the copy.
		if i := cap(e.Bytes) - cap(e.Data); i >= 0 && i+len(e.Data) <= len(e.Bytes) && &e.Bytes[i] == &e.Data[0] {
			ce.Data = le.Bytes[i : i+len(e.Data) : i+len(e.Data)]
		} else {
			ce.Data = bytes.Clone(e.Data)
		}
	}
	return &ce
}

func appliedString(applied uint64, ok bool) string {
	if !ok {
		return "none"
	}
	return fmt.Sprint(applied)
}

// readApplied returns the seq of the last entry committed to the store.
func readApplied(r pebble.Reader) (seq uint64, ok bool, err error) {
	v, err := getCopy(r, keyApplied)
	if err != nil || v == nil {
		return 0, false, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("projections: %s holds %d bytes", keyApplied, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// sizeOf returns how many entries the store reflects: applied seq + 1.
func sizeOf(r pebble.Reader) (uint64, error) {
	seq, ok, err := readApplied(r)
	if err != nil || !ok {
		return 0, err
	}
	return seq + 1, nil
}
