package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/ledger"
)

// Tx is what a projection sees while it applies one entry: reads see every
// write of earlier entries, committed or still in the consumer's batch, and
// writes go into the consumer's batch only. It is not safe for concurrent use.
type Tx struct {
	b *pebble.Batch
	h *storeHandler
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

// Set writes key and remembers the value for later reads.
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
// the key is absent. Objects are cached decoded between entries, so a caller
// that changes the object must Save it before it returns.
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

// Save writes obj under key, encoded with encode, and caches it decoded.
func Save[T any](tx *Tx, key []byte, obj *T, encode func(*T) ([]byte, error)) error {
	b, err := encode(obj)
	if err != nil {
		return err
	}
	tx.h.cache[string(key)] = cached{obj: obj}
	return tx.b.Set(key, b, nil)
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
	bytes []byte // raw value; nil with obj nil means deleted
	obj   any    // decoded object (Load/Save)
}

// keyApplied holds the seq of the last entry applied to the store, 8 bytes
// big-endian. It is written in the same batch as the entry's writes.
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

	cache   map[string]cached // writes since the last known committed point
	last    uint64            // seq of the last entry applied through the cache
	hasLast bool              // last is valid: the cache continues from it
}

func newStoreHandler(db *pebble.DB, projs []Projection) *storeHandler {
	return &storeHandler{db: db, projs: projs, cache: make(map[string]cached)}
}

// Apply implements the consumer's Handler.
func (h *storeHandler) Apply(ctx context.Context, b *pebble.Batch, le *ledger.Entry) (err error) {
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
		case inOrder:
			// A batch is in progress: its writes live only in the cache.
		default:
			clear(h.cache)
			h.hasLast = false
			if ok && le.Seq <= applied {
				return nil // already applied: a redelivery
			}
			if (ok && le.Seq != applied+1) || (!ok && le.Seq != 0) {
				return fmt.Errorf("projections: entry %d arrived, the store holds entries up to %s", le.Seq, appliedString(applied, ok))
			}
		}
	}
	defer func() {
		if err != nil {
			clear(h.cache)
			h.hasLast = false
		}
	}()
	e, err := Decode(le)
	if err != nil {
		return err
	}
	tx := &Tx{b: b, h: h}
	for _, p := range h.projs {
		if err := p.Apply(ctx, tx, e); err != nil {
			return fmt.Errorf("projections: %s: entry %d: %w", p.Name(), le.Seq, err)
		}
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], le.Seq)
	if err := b.Set(keyApplied, v[:], nil); err != nil {
		return err
	}
	h.last, h.hasLast = le.Seq, true
	return nil
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
