package projections

import (
	"github.com/cockroachdb/pebble/v2"

	"github.com/liuhen/liuhen/ledger"
)

// DBForTest returns the serving build's database.
func DBForTest(s *Store) *pebble.DB {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur.db
}

// DecodeFast decodes e with the scanner only (no fallback).
func DecodeFast(e *ledger.Entry) (*Entry, error) {
	m, err := scanRecord(e.Bytes)
	if err != nil {
		return nil, err
	}
	return decodeMembers(e, m)
}

// DecodeFull decodes e with encoding/json/v2 only.
var DecodeFull = decodeFull

// DecodeDataFull decodes e's data into v with encoding/json/v2 only.
func DecodeDataFull(e *Entry, v any) error { return e.decodeDataFull(v) }

// DecodeDataFast decodes e's data into v by the plan of v's type only; it
// reports whether it did.
func DecodeDataFast(e *Entry, v any) bool { return decodeDataFast(e.Data, v) }

// SetMaxCacheForTest sets how many keys a lane keeps between batches, and
// returns a function that restores it.
func SetMaxCacheForTest(n int) (restore func()) {
	old := maxCache
	maxCache = n
	return func() { maxCache = old }
}

// CacheLenForTest returns how many keys the store handler h keeps in its
// caches; h must be idle.
func CacheLenForTest(h Handler) int {
	n := 0
	for _, l := range h.(*storeHandler).lanes {
		n += len(l.cache)
	}
	return n
}
