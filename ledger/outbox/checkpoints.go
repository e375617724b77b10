package outbox

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// cpState is where the checkpoints stream stands.
type cpState struct {
	stream jetstream.Stream
	last   uint64 // the stream's last sequence
	size   uint64 // size of the checkpoint at last
	any    bool   // the stream holds a checkpoint
}

// reconcileCheckpoints reads the checkpoints stream's last message, which
// must be a checkpoint this ledger signed.
func (r *Relay) reconcileCheckpoints(ctx context.Context) (cpState, error) {
	name := r.cfg.Layout.Checkpoints
	s, err := r.js.Stream(ctx, name)
	if err != nil {
		return cpState{}, fmt.Errorf("outbox: stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return cpState{}, fmt.Errorf("outbox: stream %s: %w", name, err)
	}
	st := cpState{stream: s, last: info.State.LastSeq}
	if st.last == 0 {
		return st, nil
	}
	m, err := s.GetMsg(ctx, st.last)
	if err != nil {
		return cpState{}, fmt.Errorf("outbox: stream %s: %w", name, err)
	}
	cp, err := ledger.OpenCheckpoint(m.Data, r.l.Origin(), r.l.Verifier())
	if err != nil {
		return cpState{}, &DivergedError{Stream: name, What: fmt.Sprintf("its last message (stream sequence %d) is not a checkpoint of this ledger: %v", st.last, err)}
	}
	mine, err := r.l.CheckpointAt(cp.Size)
	if err != nil || !bytes.Equal(mine.Note, m.Data) {
		return cpState{}, &DivergedError{Stream: name, Seq: cp.Size, What: "the ledger stores no such checkpoint"}
	}
	st.size, st.any = cp.Size, true
	r.checkpoint.Store(cp.Size)
	return st, nil
}

// pumpCheckpoints publishes every stored checkpoint, in size order, once
// the entries it covers are acknowledged, so that a monitor that sees a
// checkpoint can read all its entries.
//
// The next checkpoint to publish is read (and its signature checked) once,
// not again on every move of the entries' relay while it waits for them.
func (r *Relay) pumpCheckpoints(ctx context.Context, st cpState) error {
	var next *ledger.Checkpoint // the first stored checkpoint covering want, once read
	for {
		signed := r.l.WaitCheckpoint()
		var moved <-chan struct{}
		for {
			want := st.size + 1
			if !st.any {
				want = 0
			}
			if latest := r.l.Checkpoint(); latest == nil || latest.Size < want {
				break
			}
			cp := next
			if cp == nil || cp.Size < want {
				var err error
				if cp, err = r.l.CheckpointCovering(ctx, want); err != nil {
					return err
				}
				next = cp
			}
			if cp.Size > r.published.Load() {
				moved = r.movedCh()
				if cp.Size > r.published.Load() {
					break
				}
			}
			if err := r.publishCheckpoint(ctx, &st, cp); err != nil {
				return err
			}
		}
		select {
		case <-signed:
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publishCheckpoint publishes cp after the stream's last message.
func (r *Relay) publishCheckpoint(ctx context.Context, st *cpState, cp *ledger.Checkpoint) error {
	size := strconv.FormatUint(cp.Size, 10)
	m := &nats.Msg{
		Subject: r.cfg.Layout.CheckpointSubject(),
		Data:    cp.Note,
		Header: nats.Header{
			jetstream.MsgIDHeader: {"checkpoint-" + size},
			natsrv.HeaderSize:     {size},
			natsrv.HeaderRoot:     {ledger.Hex(cp.Root)},
		},
	}
	ack, err := r.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequence(st.last))
	if err != nil {
		// A lost ack, a re-send or a leader change: the next attempt
		// starts from what the stream holds.
		return fmt.Errorf("outbox: publishing checkpoint %d: %w", cp.Size, err)
	}
	if ack.Duplicate {
		got, err := st.stream.GetMsg(ctx, ack.Sequence)
		if err != nil {
			return fmt.Errorf("outbox: checkpoint %d: %w", cp.Size, err)
		}
		if !bytes.Equal(got.Data, cp.Note) {
			return &DivergedError{Stream: r.cfg.Layout.Checkpoints, Seq: cp.Size, What: fmt.Sprintf("stream sequence %d holds another message with this checkpoint's id", ack.Sequence)}
		}
	}
	st.last = max(st.last, ack.Sequence)
	st.size, st.any = cp.Size, true
	r.checkpoint.Store(cp.Size)
	return nil
}
