// Package feed feeds projection stores straight from a local ledger. It is
// the in-process stand-in for projections/consume (which reads JetStream)
// used by tests, benchmarks and offline rebuilds: same Handler contract,
// same position-in-the-batch rule, no network.
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

	v *ledger.ChainVerifier // verifies and decodes while it follows from entry 0; owned by Run

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

// CatchUp applies every entry up to the ledger's current head and returns.
func (c *Consumer) CatchUp(ctx context.Context) error {
	b := c.db.NewBatch()
	defer func() { b.Close() }()
	n := 0
	pos := c.Position()
	for seq, raw := range c.l.Entries(pos) {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw = append([]byte(nil), raw...)
		if seq == 0 {
			c.v = ledger.NewChainVerifier()
		}
		var e *ledger.Entry
		var err error
		if c.v != nil && c.v.Size() == seq {
			e, err = c.v.Add(raw) // verify and decode, as the JetStream consumer does
		} else {
			c.v = nil
			e, err = ledger.DecodeEntry(raw)
		}
		if err != nil {
			return fmt.Errorf("feed: entry %d: %w", seq, err)
		}
		if err := c.h.Apply(ctx, b, e); err != nil {
			return err
		}
		pos = seq + 1
		n++
		if n == c.opts.BatchSize {
			if err := c.commit(b, pos); err != nil {
				return err
			}
			b.Close()
			b = c.db.NewBatch()
			n = 0
		}
	}
	if n > 0 {
		return c.commit(b, pos)
	}
	return nil
}

func (c *Consumer) commit(b *pebble.Batch, pos uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], pos)
	if err := b.Set(c.key, v[:], nil); err != nil {
		return err
	}
	wo := pebble.Sync
	if c.opts.NoSync {
		wo = pebble.NoSync
	}
	if err := b.Commit(wo); err != nil {
		return err
	}
	c.mu.Lock()
	c.pos = pos
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}
