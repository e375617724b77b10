package projections

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
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
	h *lane
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

// SingleDelete deletes key, which must have been written exactly once with
// Put since it was last deleted (with SingleDelete or Delete), and never
// with Set or Save. Pebble drops such a write and its deletion together
// where they meet (a memtable flush, a compaction) instead of carrying a
// tombstone down the levels: for an index entry that lives a short while.
// Deleting a key written twice this way may bring an older value back.
func (tx *Tx) SingleDelete(key []byte) error {
	return tx.b.SingleDelete(key, nil)
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
	c, ok := tx.h.cache[string(key)]
	if ok && c.enc != nil {
		if o, _ := c.obj.(*T); o == obj {
			return nil // saved already, and encoded at the flush as it is then
		}
	}
	k := string(key)
	if !ok || c.enc == nil {
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
