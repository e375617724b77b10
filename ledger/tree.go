package ledger

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// storedHashes reads tree hashes from Pebble with one iterator per call
// (tlog asks for them in increasing order, and nearby nodes share blocks).
// Nodes at level cachedLevel and above are kept in a bounded cache: every
// proof reads the few nodes near the root, and a complete node never
// changes. It sees only what was committed; callers bound their requests by
// the durable head.
func (l *Ledger) storedHashes() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		var it *pebble.Iterator
		defer func() {
			if it != nil {
				it.Close()
			}
		}()
		for i, x := range idx {
			level, n := tlog.SplitStoredHashIndex(x)
			if level >= cachedLevel {
				if h, ok := l.hashCache.get(x); ok {
					out[i] = h
					continue
				}
			}
			if it == nil {
				var err error
				if it, err = l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixHash}, UpperBound: []byte{prefixHash + 1}}); err != nil {
					return nil, err
				}
			}
			k := seqKey(prefixHash, uint64(x))
			if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) || len(it.Value()) != len(Hash{}) {
				return nil, fmt.Errorf("%w: tree hash %d (level %d, node %d) missing or malformed", ErrCorrupt, x, level, n)
			}
			copy(out[i][:], it.Value())
			if level >= cachedLevel {
				l.hashCache.put(x, out[i])
			}
		}
		return out, nil
	})
}

// cachedLevel is the lowest tree level whose nodes storedHashes caches.
// A node at level 8 covers 256 entries, so a 10M-entry tree has about 80,000
// such nodes; the cache holds the most used of them, a few MiB at most.
const cachedLevel = 8

// hashCache is safe for concurrent use.
type hashCache struct {
	mu sync.Mutex
	m  *twoGen[int64, Hash]
}

func newHashCache() *hashCache { return &hashCache{m: newTwoGen[int64, Hash](1 << 16)} }

func (c *hashCache) get(k int64) (Hash, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m.get(k)
}

func (c *hashCache) put(k int64, h Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.put(k, h)
}

// rootAt returns the Merkle root of the first size entries, in O(log size)
// reads.
func (l *Ledger) rootAt(size uint64) (Hash, error) {
	return tlog.TreeHash(int64(size), l.storedHashes())
}

// RootAt returns the Merkle root of the tree of the first size entries. size
// must not exceed the durable head.
func (l *Ledger) RootAt(size uint64) (Hash, error) {
	if err := l.enter(); err != nil {
		return Hash{}, err
	}
	defer l.leave()
	if size > l.Head().Size {
		return Hash{}, fmt.Errorf("%w: size %d is beyond the head %d", ErrNotFound, size, l.Head().Size)
	}
	return l.rootAt(size)
}

// InclusionProof returns the RFC 6962 audit path, bottom-up, proving that
// entry seq is in the tree of the first size entries.
func (l *Ledger) InclusionProof(seq, size uint64) ([]Hash, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	if size > l.Head().Size || seq >= size {
		return nil, fmt.Errorf("%w: no entry %d in a tree of size %d (head %d)", ErrNotFound, seq, size, l.Head().Size)
	}
	p, err := tlog.ProveRecord(int64(size), int64(seq), l.storedHashes())
	return p, err
}

// ConsistencyProof returns the RFC 6962 proof that the tree of size from is
// a prefix of the tree of size to. from must be at least 1: every tree is
// consistent with the empty one, and a proof for it would prove nothing.
func (l *Ledger) ConsistencyProof(from, to uint64) ([]Hash, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	if from == 0 || from > to || to > l.Head().Size {
		return nil, fmt.Errorf("%w: no consistency proof from %d to %d (head %d)", ErrNotFound, from, to, l.Head().Size)
	}
	p, err := tlog.ProveTree(int64(to), int64(from), l.storedHashes())
	return p, err
}

// LeafHashAt returns the leaf hash of entry seq.
func (l *Ledger) LeafHashAt(seq uint64) (Hash, error) {
	if err := l.enter(); err != nil {
		return Hash{}, err
	}
	defer l.leave()
	if seq >= l.Head().Size {
		return Hash{}, fmt.Errorf("%w: seq %d", ErrNotFound, seq)
	}
	h, err := l.storedHashes().ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq))})
	if err != nil {
		return Hash{}, err
	}
	return h[0], nil
}

// Checkpoint returns the latest stored signed checkpoint.
func (l *Ledger) Checkpoint() *Checkpoint { return l.cp.Load() }

// CheckpointAt returns the signed checkpoint stored for exactly size, or
// ErrNotFound if none was signed at that size.
func (l *Ledger) CheckpointAt(size uint64) (*Checkpoint, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	b, err := l.get(seqKey(prefixCheckpoint, size))
	if err != nil {
		return nil, fmt.Errorf("%w: no checkpoint at size %d", ErrNotFound, size)
	}
	return OpenCheckpoint(b, l.cfg.Origin, l.verifier)
}

// CheckpointCovering returns the smallest stored checkpoint whose size is at
// least size, waiting for it until ctx is done if none is stored yet.
func (l *Ledger) CheckpointCovering(ctx context.Context, size uint64) (*Checkpoint, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	for {
		l.cpMu.Lock()
		changed := l.cpChanged
		l.cpMu.Unlock()
		if cp := l.cp.Load(); cp != nil && cp.Size >= size {
			if r := l.recentCovering(size); r != nil {
				return r, nil
			}
			it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixCheckpoint, size), UpperBound: []byte{prefixCheckpoint + 1}})
			if err != nil {
				return nil, err
			}
			ok := it.First()
			var b []byte
			if ok {
				b = append([]byte(nil), it.Value()...)
			}
			it.Close()
			if !ok {
				return cp, nil
			}
			return OpenCheckpoint(b, l.cfg.Origin, l.verifier)
		}
		if size > l.Head().Size {
			return nil, fmt.Errorf("%w: size %d is beyond the head %d", ErrNotFound, size, l.Head().Size)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WaitCheckpoint returns a channel closed when the next checkpoint is stored.
func (l *Ledger) WaitCheckpoint() <-chan struct{} {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.cpChanged
}

// storeCheckpoint signs (size, root) and stores it with an fsync. It is
// called only for sizes whose entries are durable.
func (l *Ledger) storeCheckpoint(size uint64, root Hash) error {
	k := seqKey(prefixCheckpoint, size)
	if old, err := l.get(k); err == nil {
		// Never two roots for one size.
		cp, err := OpenCheckpoint(old, l.cfg.Origin, l.verifier)
		if err != nil || cp.Root != root {
			return fmt.Errorf("%w: a different checkpoint is already stored for size %d", ErrCorrupt, size)
		}
		l.setCheckpoint(cp)
		return nil
	}
	b, err := signCheckpoint(l.cfg.Signer, l.cfg.Origin, size, root)
	if err != nil {
		return err
	}
	if err := guardPebble(func() error { return l.db.Set(k, b, pebble.Sync) }); err != nil {
		return err
	}
	l.setCheckpoint(&Checkpoint{Size: size, Root: root, Note: b})
	return nil
}

// cpRecentMax is how many of the last stored checkpoints the ledger keeps.
const cpRecentMax = 64

// recentCovering returns the first stored checkpoint of at least size
// from those signed last, or nil if they do not tell. These were signed by
// this ledger and are the ones the relay asks for, each as it is signed:
// serving them from memory spares reading each back and checking its
// signature.
func (l *Ledger) recentCovering(size uint64) *Checkpoint {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	r := l.cpRecent
	// The first is known to be the first stored checkpoint of at least
	// size only if size is above the one before it, which is not kept.
	if len(r) < 2 || size <= r[0].Size {
		return nil
	}
	for _, cp := range r[1:] {
		if cp.Size >= size {
			return cp
		}
	}
	return nil
}

func (l *Ledger) setCheckpoint(cp *Checkpoint) {
	l.cpMu.Lock()
	if n := len(l.cpRecent); n == 0 || cp.Size > l.cpRecent[n-1].Size {
		if n == cpRecentMax {
			l.cpRecent = append(l.cpRecent[:0], l.cpRecent[1:]...)
		}
		l.cpRecent = append(l.cpRecent, cp)
	}
	if cur := l.cp.Load(); cur == nil || cp.Size >= cur.Size {
		l.cp.Store(cp) // never back: AddCheckpoints may store older ones
	}
	close(l.cpChanged)
	l.cpChanged = make(chan struct{})
	l.cpMu.Unlock()
}

// runCheckpointer signs a checkpoint for the durable head whenever it moved,
// no more often than CheckpointInterval. Checkpoints are signed only after
// the entries they cover were fsynced.
func (l *Ledger) runCheckpointer() {
	defer close(l.cpDone)
	var last time.Time
	for range l.cpWake {
		if wait := l.cfg.CheckpointInterval - time.Since(last); wait > 0 {
			l.waitCheckpointInterval(wait)
		}
		l.checkpointHead()
		last = time.Now()
	}
	l.checkpointHead() // the final head, at Close
}

// waitCheckpointInterval waits d, or less if the ledger closes meanwhile
// (the syncer closes cpWake), so that Close never waits out an interval.
// Wakes that arrive meanwhile are absorbed: the checkpoint that follows
// covers the head as it is then.
func (l *Ledger) waitCheckpointInterval(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case _, open := <-l.cpWake:
			if !open {
				return
			}
		}
	}
}

func (l *Ledger) checkpointHead() {
	if l.fatal.Load() != nil {
		return
	}
	h := l.Head()
	if cp := l.cp.Load(); cp != nil && cp.Size >= h.Size {
		return
	}
	if err := l.storeCheckpoint(h.Size, h.Root); err != nil {
		l.fail(err)
	}
}
