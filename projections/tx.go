package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/ledger"
)

// Tx is what a projection sees while it applies one entry: reads see every
// write of earlier entries, committed or still in the consumer's batch, and
// writes go into the consumer's batch only. It is not safe for concurrent use.
//
// Objects written with Save stay in memory, decoded, until the consumer
// flushes the batch: an object that many entries of a batch change (a case
// touched by several entries) is encoded and written once per batch, not
// once per entry.
type Tx struct {
	b *pebble.Batch
	h *storeHandler
	e *Entry // the entry being applied
}

// Get returns the value of key, or nil if it is absent. Writes made with Set
// (by this or an earlier entry) are seen; writes made with Put are not. The
// returned slice must not be modified.
func (tx *Tx) Get(key []byte) ([]byte, error) {
	if v, ok := tx.h.cache[string(key)]; ok {
		if v.bytes == nil && v.obj == nil {
			return nil, nil // deleted
		}
		if v.bytes != nil {
			return v.bytes, nil
		}
		return nil, fmt.Errorf("projections: key %q holds an object; use Load", key)
	}
	return getCopy(tx.h.db, key)
}

// Set writes key and remembers the value for later reads. The value must
// not be modified afterwards.
func (tx *Tx) Set(key, value []byte) error {
	tx.h.cache[string(key)] = cached{bytes: value}
	return tx.b.Set(key, value, nil)
}

// Put writes key without remembering it: for keys that are written once and
// never read back while applying (timelines, drill-down items).
func (tx *Tx) Put(key, value []byte) error { return tx.b.Set(key, value, nil) }

// Delete deletes key.
func (tx *Tx) Delete(key []byte) error {
	tx.h.cache[string(key)] = cached{}
	return tx.b.Delete(key, nil)
}

// Load returns the object stored under key, decoded with decode, or nil if
// the key is absent. Objects are cached decoded between entries (and
// batches), so a caller that changes the object must Save it before it
// returns, and decode must not keep references into its argument.
func Load[T any](tx *Tx, key []byte, decode func([]byte) (*T, error)) (*T, error) {
	if v, ok := tx.h.cache[string(key)]; ok {
		if v.obj != nil {
			return v.obj.(*T), nil
		}
		if v.bytes == nil {
			return nil, nil
		}
		return decode(v.bytes)
	}
	b, err := getCopy(tx.h.db, key)
	if err != nil || b == nil {
		return nil, err
	}
	obj, err := decode(b)
	if err != nil {
		return nil, err
	}
	tx.h.cache[string(key)] = cached{obj: obj}
	return obj, nil
}

// LoadCase is Load for a key that only the entries of the case of the entry
// being applied write, and only with Set or Save (a projection's per-case
// state). If the store applied the case's first entry (case_seq 1) after
// its cache was last emptied, every such key is in the cache or absent, and
// LoadCase does not read the store: most cases begin during a catch-up.
func LoadCase[T any](tx *Tx, key []byte, decode func([]byte) (*T, error)) (*T, error) {
	if _, ok := tx.h.cache[string(key)]; !ok && tx.e != nil && tx.e.CaseID != uuid.Nil {
		if _, fresh := tx.h.fresh[tx.e.CaseID]; fresh {
			return nil, nil
		}
	}
	return Load(tx, key, decode)
}

// Save caches obj decoded under key and marks it to be written, encoded
// with encode, when the batch is flushed; saving it again before then costs
// nothing more. encode runs at the flush, on obj as it is then.
func Save[T any](tx *Tx, key []byte, obj *T, encode func(*T) ([]byte, error)) error {
	k := string(key)
	if c, ok := tx.h.cache[k]; !ok || c.enc == nil {
		tx.h.dirty = append(tx.h.dirty, k)
	}
	tx.h.cache[k] = cached{obj: obj, enc: func() ([]byte, error) { return encode(obj) }}
	return nil
}

func getCopy(r pebble.Reader, key []byte) ([]byte, error) {
	v, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return append([]byte(nil), v...), nil
}

type cached struct {
	bytes []byte                 // raw value; nil with obj nil means deleted
	obj   any                    // decoded object (Load/Save)
	enc   func() ([]byte, error) // set while obj is saved but not yet in the batch
}

// keyApplied holds the seq of the last entry applied to the store, 8 bytes
// big-endian. It is written in the same batch as the entries' writes: by
// the batch's first entry (so that the batch is never empty after it) and
// by Flush, for the last.
var keyApplied = []byte("rt/applied")

// maxCache is how many keys the handler keeps between entries before it
// drops them (once it knows they are committed).
const maxCache = 1 << 16

// storeHandler applies entries to every projection of a store. It implements
// the consumer's Handler contract (projections/consume): it writes only into
// the batch it is given. It is used by one consumer goroutine at a time.
//
// The consumer owns the batch: it may hold many entries, and it may be
// dropped uncommitted after a failure, in which case the consumer starts
// again from its committed position. The handler does not rely on either:
// it keeps its own applied seq in the batch, skips entries at or below the
// committed one (so a redelivery applies nothing twice even if the
// consumer's own position were behind), and trusts its cache of uncommitted
// writes only while entries arrive exactly one after the other. Any other
// seq, or an error, drops the cache and reads the committed state again.
type storeHandler struct {
	db    *pebble.DB
	projs []Projection

	cache     map[string]cached      // writes since the last known committed point
	fresh     map[uuid.UUID]struct{} // cases begun (case_seq 1) since cache was last emptied
	dirty     []string               // keys saved since the last Flush, in cache with enc set
	last      uint64                 // seq of the last entry applied through the cache
	hasLast   bool                   // last is valid: the cache continues from it
	unflushed bool                   // entries were applied since the last Flush
}

func newStoreHandler(db *pebble.DB, projs []Projection) *storeHandler {
	return &storeHandler{db: db, projs: projs, cache: make(map[string]cached), fresh: make(map[uuid.UUID]struct{})}
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
	if !h.hasLast || le.Seq != h.last+1 || len(h.cache) > maxCache {
		applied, ok, err := readApplied(h.db)
		if err != nil {
			return err
		}
		inOrder := h.hasLast && le.Seq == h.last+1
		committed := h.hasLast && ok && applied == h.last // all cached writes are committed
		switch {
		case inOrder && committed:
			clear(h.cache) // too large, and safe to drop
			clear(h.fresh)
		case inOrder:
			// A batch is in progress: its writes live only in the cache.
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
	if len(h.dirty) > 0 && b.Empty() {
		// Entries of an earlier batch saved objects, and this is a new
		// batch: the earlier one was committed (or dropped) unflushed.
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
	if e.CaseSeq == 1 {
		h.fresh[e.CaseID] = struct{}{}
	}
	tx := &Tx{b: b, h: h, e: e}
	for _, p := range h.projs {
		if err := p.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("projections: %s: entry %d: %w", p.Name(), le.Seq, err)
		}
	}
	h.last, h.hasLast, h.unflushed = le.Seq, true, true
	return nil
}

func setApplied(b *pebble.Batch, seq uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return b.Set(keyApplied, v[:], nil)
}

// Flush implements the consumer's Handler: it writes every object saved
// since the last flush into b, which the consumer then commits.
func (h *storeHandler) Flush(ctx context.Context, b *pebble.Batch) error {
	for _, k := range h.dirty {
		c := h.cache[k]
		if c.enc == nil {
			continue // overwritten by Set or Delete since
		}
		v, err := c.enc()
		if err == nil {
			err = b.Set([]byte(k), v, nil)
		}
		if err != nil {
			h.reset()
			return fmt.Errorf("projections: writing %q: %w", k, err)
		}
		c.enc = nil
		h.cache[k] = c
	}
	h.dirty = h.dirty[:0]
	if h.unflushed {
		if err := setApplied(b, h.last); err != nil {
			h.reset()
			return err
		}
		h.unflushed = false
	}
	return nil
}

// reset forgets everything not known to be committed.
func (h *storeHandler) reset() {
	clear(h.cache)
	clear(h.fresh)
	h.dirty = h.dirty[:0]
	h.hasLast, h.unflushed = false, false
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
