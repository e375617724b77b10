package ledger

import (
	"testing"
)

// TestBlockCacheHoldsBlocks guards the cache sizing: Pebble reserves its
// memtables' memory inside the block cache, and a cache no larger than
// that reservation silently caches nothing, so every idempotency lookup
// read its index and filter blocks from the file.
func TestBlockCacheHoldsBlocks(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.CacheSize = 1 << 20
	l := newTestLedger(t, cfg)
	for i := range 20 {
		batch := make([][]byte, 0, 100)
		for j := range 100 {
			batch = append(batch, rec(i*100+j, j%7))
		}
		mustAppend(t, l, batch...)
	}
	if err := l.db.Flush(); err != nil {
		t.Fatal(err)
	}
	// Reading the same entries twice: the second pass must be served by
	// the cache.
	for range 2 {
		for seq := range uint64(2000) {
			if _, err := l.EntryAt(seq); err != nil {
				t.Fatalf("EntryAt(%d): %v", seq, err)
			}
		}
	}
	m := l.db.Metrics()
	if m.BlockCache.Count == 0 || m.BlockCache.Hits == 0 {
		t.Fatalf("block cache holds %d blocks with %d hits, %d misses; want blocks and hits",
			m.BlockCache.Count, m.BlockCache.Hits, m.BlockCache.Misses)
	}
	t.Logf("block cache: %d blocks, %d hits, %d misses", m.BlockCache.Count, m.BlockCache.Hits, m.BlockCache.Misses)
}
