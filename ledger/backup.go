package ledger

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Backup writes a consistent copy of the ledger to dir while it runs: the
// ledger as it was at one moment, every entry acknowledged before that
// moment in it, with its indexes, tree hashes and checkpoints. Appends go on
// meanwhile. dir must not exist; its parent should be on the ledger's file
// system, where Pebble hard-links the immutable table files instead of
// copying them (and copies only the live WAL and the manifest).
//
// Before it returns, Backup opens the copy read-only (Config.ReadOnly) and
// reconciles it as Open does: head against the entries at its edge, the
// tree's root, the latest checkpoint's signature and root. It returns the
// copy's head and its latest checkpoint, which may be older than the head
// (the checkpointer signs at most every CheckpointInterval). A full Verify
// of the copy is left to whoever receives it.
//
// The copy is a Pebble directory that Open reads like the original, and
// that a server can be restored from (docs/operations.md).
func (l *Ledger) Backup(dir string) (Head, *Checkpoint, error) {
	if err := l.enter(); err != nil {
		return Head{}, nil, err
	}
	// WithFlushedWAL: an empty synced write first, so the copied WAL ends
	// in a synced record. Every acknowledged commit is synced already;
	// this only keeps Pebble's own recovery of the copy from meeting a
	// torn tail.
	err := guardPebble(func() error { return l.db.Checkpoint(dir, pebble.WithFlushedWAL()) })
	l.leave()
	if err != nil {
		return Head{}, nil, fmt.Errorf("ledger: backup to %s: %w", dir, err)
	}
	c, err := Open(Config{Dir: dir, FS: l.cfg.FS, Origin: l.cfg.Origin, ReadOnly: true, Logger: l.cfg.Logger, CacheSize: 8 << 20})
	if err != nil {
		return Head{}, nil, fmt.Errorf("ledger: the backup in %s does not open: %w", dir, err)
	}
	h, cp := c.Head(), c.Checkpoint()
	if err := c.Close(); err != nil {
		return Head{}, nil, err
	}
	if cp == nil {
		return Head{}, nil, fmt.Errorf("%w: the backup in %s holds no checkpoint", ErrCorrupt, dir)
	}
	return h, cp, nil
}

// LockDir takes the lock of the ledger directory dir, as Open does, and
// returns its release: an error means a running process holds the ledger
// open. Commands that replace a ledger's directory (liuhen restore) take it
// first.
func LockDir(dir string) (release func() error, err error) {
	lk, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("ledger: %s is in use (is the server running?): %w", dir, err)
	}
	return lk.Close, nil
}
