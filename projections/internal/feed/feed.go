// Package feed feeds projection stores straight from a local ledger. It is
// the in-process stand-in for projections/consume (which reads JetStream)
// used by tests and benchmarks: same Handler contract (Apply each entry,
// Flush, then commit with the position), same checks (leaf hash chain,
// entries read with ledger.ScanEntry), same position-in-the-batch rule, no
// network.
package feed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/consume"
	"github.com/liuhen/liuhen/projections/internal/commitq"
)

// Options tunes a Consumer.
type Options struct {
	// BatchSize is the most entries applied in one committed batch.
	// Default 1000.
	BatchSize int
	// NoSync commits batches without fsync (benchmarks).
	NoSync bool
}

// A Consumer applies a ledger's entries to a Pebble database through a
// handler, committing its position (key "feed/<name>") in the same batch.
type Consumer struct {
	l    *ledger.Ledger
	db   *pebble.DB
	h    projections.Handler
	key  []byte
	opts Options

	// Owned by Run: the entries applied, committed or queued for commit,
	// the leaf hash of the last, and the commits.
	applied uint64
	last    ledger.Hash
	q       commitq.Queue

	mu      sync.Mutex
	pos     uint64        // entries applied and committed; guarded by mu
	changed chan struct{} // closed when pos moves; guarded by mu
}

// New returns a consumer of l into db.
func New(l *ledger.Ledger, db *pebble.DB, name string, h projections.Handler, opts Options) (*Consumer, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	c := &Consumer{l: l, db: db, h: h, key: []byte("feed/" + name), opts: opts, changed: make(chan struct{})}
	v, closer, err := db.Get(c.key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		c.pos = binary.BigEndian.Uint64(v)
		c.applied = c.pos
		closer.Close()
	}
	return c, nil
}

// Func adapts New to projections.ConsumeFunc.
func Func(l *ledger.Ledger, opts Options) projections.ConsumeFunc {
	return func(db *pebble.DB, name string, h projections.Handler) (projections.Consumer, error) {
		return New(l, db, name, h, opts)
	}
}

// Position returns the number of entries applied and committed.
func (c *Consumer) Position() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

// Caught returns once Position ≥ size, or when ctx is done.
func (c *Consumer) Caught(ctx context.Context, size uint64) error {
	for {
		c.mu.Lock()
		pos, ch := c.pos, c.changed
		c.mu.Unlock()
		if pos >= size {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run applies entries until ctx is done, following the ledger's head.
func (c *Consumer) Run(ctx context.Context) error {
	for {
		changed := c.l.HeadChanged()
		if err := c.CatchUp(ctx); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CatchUp applies every entry up to the ledger's current head and returns
// once they are committed. Batches are committed by a commitq.Queue, the
// next one applied meanwhile, as projections/consume does.
func (c *Consumer) CatchUp(ctx context.Context) (err error) {
	defer func() {
		if werr := c.q.Wait(); err == nil {
			err = werr
		}
	}()
	b := c.db.NewBatch(pebble.WithMaxRetainedSizeBytes(consume.BatchRetained)) // as consume does
	defer func() {
		if b != nil {
			b.Close()
		}
	}()
	n := 0
	pos := c.applied
	if pos > 0 && c.last == (ledger.Hash{}) {
		h, err := c.l.LeafHashAt(pos - 1)
		if err != nil {
			return err
		}
		c.last = h
	}
	last := c.last
	for seq, raw := range c.l.Entries(pos) {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Verify and read as the JetStream consumer does: the chain of
		// leaf hashes, the entry scanned once.
		leaf := ledger.LeafHash(raw)
		e, err := ledger.ScanEntry(raw)
		if err == nil && (e.Seq != seq || e.Prev != last) {
			err = fmt.Errorf("seq %d, prev %s: the chain is broken", e.Seq, ledger.Hex(e.Prev))
		}
		if err != nil {
			return fmt.Errorf("feed: entry %d: %w", seq, err)
		}
		if n == 0 {
			if st, ok := c.h.(interface{ Settle() bool }); ok && st.Settle() {
				if err := c.q.Wait(); err != nil { // as consume does
					return err
				}
			}
		}
		if err := c.h.Apply(ctx, b, e); err != nil {
			return err
		}
		pos, last = seq+1, leaf
		n++
		if n == c.opts.BatchSize {
			err := c.commit(ctx, b, pos, last)
			b = nil
			if err != nil {
				return err
			}
			b = c.db.NewBatch(pebble.WithMaxRetainedSizeBytes(consume.BatchRetained))
			n = 0
		}
	}
	if n > 0 {
		err := c.commit(ctx, b, pos, last)
		b = nil
		return err
	}
	return nil
}

// commit flushes the handler into b and queues b for commit with the
// position; b is the queue's from then on.
func (c *Consumer) commit(ctx context.Context, b *pebble.Batch, pos uint64, last ledger.Hash) error {
	if err := c.h.Flush(ctx, b); err != nil {
		b.Close()
		return err
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], pos)
	if err := b.Set(c.key, v[:], nil); err != nil {
		b.Close()
		return err
	}
	wo := pebble.Sync
	if c.opts.NoSync {
		wo = pebble.NoSync
	}
	c.applied, c.last = pos, last
	return c.q.Commit(b, wo, func() {
		c.mu.Lock()
		c.pos = pos
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	})
}
