package outbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// inflight is a published entry waiting for its ack.
type inflight struct {
	seq uint64
	f   jetstream.PubAckFuture
}

// saveEvery bounds how far the stored cursor trails the acks while the
// pipeline is busy; it is saved at once whenever the pipeline drains.
const saveEvery = 50 * time.Millisecond

// pump publishes entries from pos on, keeping up to MaxInflight
// unacknowledged, and follows the ledger's head until ctx is done or a
// publish fails.
func (r *Relay) pump(ctx context.Context, pos uint64) error {
	s, err := r.js.Stream(ctx, r.cfg.Layout.Events)
	if err != nil {
		return err
	}
	next, acked, saved := pos, pos, pos
	lastSave := time.Now()
	save := func() error {
		if acked == saved {
			return nil
		}
		if err := r.l.SetPublisherCursor(acked); err != nil {
			return err
		}
		saved, lastSave = acked, time.Now()
		return nil
	}
	defer func() { _ = save() }()
	var q []inflight
	var linger *time.Timer
	if r.cfg.Linger > 0 {
		linger = time.NewTimer(time.Hour)
		linger.Stop()
		defer linger.Stop()
	}
	for {
		if len(q) < r.cfg.MaxInflight && r.l.Head().Size > next {
			for seq, b := range r.l.Entries(next) {
				if seq != next {
					return fmt.Errorf("%w: entry %d missing below the head", ledger.ErrCorrupt, next)
				}
				f, err := r.publish(seq, b)
				if err != nil {
					return err
				}
				q = append(q, inflight{seq, f})
				next++
				if r.afterPublish != nil {
					r.afterPublish(seq)
				}
				if len(q) >= r.cfg.MaxInflight {
					break
				}
			}
		}
		// Wait for the oldest ack, or for the head to move while there is
		// room in the pipeline.
		var headCh <-chan struct{}
		if len(q) < r.cfg.MaxInflight {
			headCh = r.l.HeadChanged()
			if r.l.Head().Size > next {
				continue
			}
		}
		if len(q) == 0 {
			if err := save(); err != nil {
				return err
			}
			select {
			case <-headCh:
			case <-ctx.Done():
				return ctx.Err()
			}
			if linger != nil {
				// Let the next group commits join this burst.
				linger.Reset(r.cfg.Linger)
				select {
				case <-linger.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			continue
		}
		var ack *jetstream.PubAck
		var perr error
		select {
		case ack = <-q[0].f.Ok():
		case perr = <-q[0].f.Err():
		case <-headCh:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		for {
			if err := r.accept(ctx, s, q[0].seq, ack, perr); err != nil {
				return err
			}
			acked = q[0].seq + 1
			if r.afterAck != nil {
				r.afterAck(q[0].seq)
			}
			q = q[1:]
			if len(q) == 0 {
				break
			}
			// Take every ack that is already in.
			ack, perr = nil, nil
			select {
			case ack = <-q[0].f.Ok():
			case perr = <-q[0].f.Err():
			default:
			}
			if ack == nil && perr == nil {
				break
			}
		}
		r.advance(acked)
		if len(q) == 0 || time.Since(lastSave) >= saveEvery {
			if err := save(); err != nil {
				return err
			}
		}
	}
}

// publish hands entry seq to the connection with the headers that align
// the stream with the ledger. The headers share one backing array and the
// map is sized for them: a relay publishes tens of thousands of entries a
// second, and every allocation here is paid per entry.
func (r *Relay) publish(seq uint64, b []byte) (jetstream.PubAckFuture, error) {
	e, err := ledger.ScanEntry(b)
	if err != nil || e.Seq != seq {
		return nil, fmt.Errorf("%w: entry %d does not read back: %v", ledger.ErrCorrupt, seq, err)
	}
	leaf := ledger.LeafHash(b)
	n := strconv.FormatUint(seq, 10)
	caseTok := natsrv.CaseToken(e.CaseID)
	// No Nats-Msg-Id: the expected last sequence alone keeps the stream
	// aligned, and a re-send is answered "wrong last sequence" and
	// confirmed by reading the stream (accept). A message id would make
	// the server remember every id published in its two-minute dedupe
	// window (2.4M at 20,000 entries/s), which cost 10-17 % of the
	// sustained rate under load (docs/performance.md).
	v := &[6]string{n, n, hex.EncodeToString(leaf[:]), e.Type}
	h := make(nats.Header, 6)
	h[jetstream.ExpectedLastSeqHeader] = v[0:1:1]
	h[natsrv.HeaderSeq] = v[1:2:2]
	h[natsrv.HeaderLeafHash] = v[2:3:3]
	h[natsrv.HeaderType] = v[3:4:4]
	if e.CaseID != uuid.Nil {
		v[4] = caseTok // the case id as text
		h[natsrv.HeaderCase] = v[4:5:5]
	}
	if e.DeviceID != "" {
		v[5] = e.DeviceID
		h[natsrv.HeaderDevice] = v[5:6:6]
	}
	m := &nats.Msg{
		Subject: r.eventsPrefix + natsrv.TypeTokens(e.Type) + "." + caseTok, // = Layout.EventSubject
		Data:    bytes.Clone(b),                                             // Entries reuses b; the client may re-send m
		Header:  h,
	}
	return r.js.PublishMsgAsync(m)
}

// wrongLastSeq reports whether err is JetStream's answer to an expected
// last sequence that does not match: 10071 on R1, 10164 on R3 for a
// conflict with a proposal in flight.
func wrongLastSeq(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && (ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// accept judges the answer to publishing entry seq. nil means the entry is
// in the stream at its place.
func (r *Relay) accept(ctx context.Context, s jetstream.Stream, seq uint64, ack *jetstream.PubAck, err error) error {
	switch {
	case err == nil && ack.Sequence == seq+1 && !ack.Duplicate:
		return nil
	case err == nil:
		// A duplicate (an R3 stream's answer to a re-send published with
		// a message id, by an earlier version) or another sequence. Look.
		ok, cerr := r.confirm(ctx, s, seq)
		if cerr != nil || ok {
			return cerr
		}
		return &DivergedError{Stream: s.CachedInfo().Config.Name, Seq: seq,
			What: fmt.Sprintf("JetStream acknowledged it at stream sequence %d (duplicate %v)", ack.Sequence, ack.Duplicate)}
	case wrongLastSeq(err):
		// R1's answer to a re-send, or a gap: the stream is not where the
		// pipeline thought.
		ok, cerr := r.confirm(ctx, s, seq)
		if cerr != nil || ok {
			return cerr
		}
		return fmt.Errorf("outbox: entry %d refused, the stream is elsewhere: %w", seq, err)
	default:
		return fmt.Errorf("outbox: publishing entry %d: %w", seq, err)
	}
}
