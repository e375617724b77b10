// Package commitq commits a consumer's batches on a goroutine of their own,
// one at a time and in order, so that the consumer applies its next batch
// while Pebble writes the last one into its memtable (and WAL). Committing a
// batch of a thousand entries costs about as much as applying it; done on
// the consumer's goroutine, the store's other goroutines wait meanwhile.
//
// A batch's writes are visible to the next batch's entries before it is
// committed only through the store handler's caches, which keep every key
// read back (projections.Tx) until the store shows the batch committed; the
// consumer waits for the commit in flight before anything that could drop
// those caches (an error, a restart, a stop).
package commitq

import "github.com/cockroachdb/pebble/v2"

// A Queue commits batches one at a time. Its zero value is ready; it is
// used by one goroutine.
type Queue struct {
	done chan error // the commit in flight reports here; nil when none
}

// Commit waits for the commit in flight, then commits b with opts on a
// goroutine of its own and returns; after runs there once b is committed
// (it publishes the position, acknowledges deliveries). b is closed when
// done with. If the commit before failed, Commit returns its error and
// closes b uncommitted.
func (q *Queue) Commit(b *pebble.Batch, opts *pebble.WriteOptions, after func()) error {
	if err := q.Wait(); err != nil {
		b.Close()
		return err
	}
	q.done = make(chan error, 1)
	go func(done chan<- error) {
		err := b.Commit(opts)
		if err == nil && after != nil {
			after()
		}
		b.Close()
		done <- err
	}(q.done)
	return nil
}

// Wait waits for the commit in flight, if any, and returns its error.
func (q *Queue) Wait() error {
	if q.done == nil {
		return nil
	}
	err := <-q.done
	q.done = nil
	return err
}
