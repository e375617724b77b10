package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/ledger"
)

// reconcile compares the events stream with the ledger (see the package
// doc for the order of checks) and returns how many entries the stream
// holds: where publishing resumes.
func (r *Relay) reconcile(ctx context.Context) (uint64, error) {
	name := r.cfg.Layout.Events
	// Let the acks of a pipeline abandoned by the last attempt arrive or
	// time out, so that what the stream holds no longer changes under us.
	select {
	case <-r.js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("outbox: stream %s: %w", name, err)
	}
	info, err := s.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return 0, fmt.Errorf("outbox: stream %s: %w", name, err)
	}
	st := info.State
	n := st.LastSeq
	// (An empty stream reports sequence 0 as deleted.)
	if n > 0 {
		switch {
		case st.FirstSeq != 1:
			return 0, &DivergedError{Stream: name, Seq: 0, What: fmt.Sprintf("the stream starts at stream sequence %d, not 1", st.FirstSeq)}
		case len(st.Deleted) > 0 && st.Deleted[0] > 0:
			return 0, &DivergedError{Stream: name, Seq: st.Deleted[0] - 1, What: "the message was deleted from the stream"}
		case st.Msgs != n:
			return 0, &DivergedError{Stream: name, Seq: n - 1, What: fmt.Sprintf("the stream has %d messages up to stream sequence %d", st.Msgs, n)}
		}
	}
	head := r.l.Head().Size
	if n > head {
		return 0, &DivergedError{Stream: name, Seq: head, What: fmt.Sprintf("the stream holds %d entries, the ledger only %d", n, head)}
	}
	cur, err := r.l.PublisherCursor()
	if err != nil {
		return 0, err
	}
	// Entries above the cursor may have been published without the ack
	// being recorded; the one at the cursor was acknowledged and must still
	// be there, or this is not the stream the relay wrote.
	from := min(cur, n)
	if from > 0 {
		from--
	}
	if err := r.compare(ctx, s, from, n); err != nil {
		return 0, err
	}
	if n < cur {
		r.resent.Add(cur - n)
		r.cfg.Logger.Warn("outbox: JetStream lost entries it had acknowledged; publishing them again",
			"stream", name, "stream_entries", n, "cursor", cur)
	}
	if n != cur {
		if err := r.l.SetPublisherCursor(n); err != nil {
			return 0, err
		}
	}
	r.reconciled.Store(true)
	r.advance(n)
	return n, nil
}

// compare checks that stream messages for entries [from, to) hold exactly
// the ledger's bytes. It reads them one by one with direct gets, which any
// replica answers: the range is the pipeline the last run left unconfirmed,
// a few thousand entries at most unless the cursor was lost.
func (r *Relay) compare(ctx context.Context, s jetstream.Stream, from, to uint64) error {
	for seq := from; seq < to; seq++ {
		m, err := s.GetMsg(ctx, seq+1)
		if err != nil {
			return fmt.Errorf("outbox: reading stream sequence %d: %w", seq+1, err)
		}
		if err := r.same(seq, m.Data); err != nil {
			return err
		}
	}
	return nil
}

// same checks that data is exactly entry seq.
func (r *Relay) same(seq uint64, data []byte) error {
	want, err := r.l.EntryAt(seq)
	if err != nil {
		return err
	}
	if !bytes.Equal(data, want) {
		return &DivergedError{Stream: r.cfg.Layout.Events, Seq: seq,
			What: fmt.Sprintf("the stream holds a different payload (leaf hash %s, the ledger's is %s)", ledger.Hex(ledger.LeafHash(data)), ledger.Hex(ledger.LeafHash(want)))}
	}
	return nil
}

// confirm reports whether the stream holds entry seq, for a publish whose
// answer says the entry may already be there. A different message at its
// place is a *DivergedError.
func (r *Relay) confirm(ctx context.Context, s jetstream.Stream, seq uint64) (bool, error) {
	m, err := s.GetMsg(ctx, seq+1)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("outbox: reading stream sequence %d: %w", seq+1, err)
	}
	if err := r.same(seq, m.Data); err != nil {
		return false, err
	}
	return true, nil
}
