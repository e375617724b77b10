package outbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// inflight is a published entry waiting for JetStream's answer.
type inflight struct {
	seq      uint64
	sent     time.Time
	answered bool
	ack      jetstream.PubAck // when answered and err is nil
	err      error
}

// saveEvery bounds how far the stored cursor trails the acks while the
// pipeline is busy; it is saved at once whenever the pipeline drains.
const saveEvery = 50 * time.Millisecond

// pump publishes entries from pos on, keeping up to MaxInflight
// unanswered, and follows the ledger's head until ctx is done or a
// publish fails or goes unanswered for AckTimeout.
func (r *Relay) pump(ctx context.Context, pos uint64) error {
	s, err := r.js.Stream(ctx, r.cfg.Layout.Events)
	if err != nil {
		return err
	}
	p, err := r.newPipeline()
	if err != nil {
		return err
	}
	defer p.close()
	// A lost connection loses the answers in flight: give up on them at
	// once, as nats.go's own async publisher does, instead of waiting for
	// AckTimeout.
	status := r.nc.StatusChanged(nats.RECONNECTING, nats.CLOSED)
	defer r.nc.RemoveStatusListener(status)
	timeout := time.NewTimer(r.cfg.AckTimeout)
	defer timeout.Stop()

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
	for {
		if len(q) < r.cfg.MaxInflight && r.l.Head().Size > next {
			now := time.Now()
			for seq, b := range r.l.Entries(next) {
				if seq != next {
					return fmt.Errorf("%w: entry %d missing below the head", ledger.ErrCorrupt, next)
				}
				if err := p.publish(seq, b); err != nil {
					return err
				}
				q = append(q, inflight{seq: seq, sent: now})
				next++
				if r.afterPublish != nil {
					r.afterPublish(seq)
				}
				if len(q) >= r.cfg.MaxInflight {
					break
				}
			}
		}
		// Wait for an answer, or for the head to move while there is room
		// in the pipeline.
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
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		timeout.Reset(time.Until(q[0].sent.Add(r.cfg.AckTimeout)))
		select {
		case m := <-p.answers:
			p.record(q, m)
		case <-headCh:
			continue
		case st := <-status:
			return fmt.Errorf("outbox: connection %v with %d entries unanswered: %w", st, len(q), nats.ErrDisconnected)
		case <-timeout.C:
			return fmt.Errorf("outbox: no answer to entry %d within %v: %w", q[0].seq, r.cfg.AckTimeout, jetstream.ErrAsyncPublishTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
		// Take every answer that is already in, then accept the answered
		// prefix in order.
		for more := true; more; {
			select {
			case m := <-p.answers:
				p.record(q, m)
			default:
				more = false
			}
		}
		moved := false
		for len(q) > 0 && q[0].answered {
			var ack *jetstream.PubAck
			if q[0].err == nil {
				ack = &q[0].ack
			}
			if err := r.accept(ctx, s, q[0].seq, ack, q[0].err); err != nil {
				return err
			}
			acked, moved = q[0].seq+1, true
			if r.afterAck != nil {
				r.afterAck(q[0].seq)
			}
			q = q[1:]
		}
		if !moved {
			continue
		}
		r.advance(acked)
		if len(q) == 0 || time.Since(lastSave) >= saveEvery {
			if err := save(); err != nil {
				return err
			}
		}
	}
}

// A pipeline publishes entries over core NATS and collects JetStream's
// answers on a reply subscription of its own: the answer for entry seq
// comes back on <inbox>.<seq>. This is what nats.go's PublishMsgAsync
// does, without its per-message bookkeeping (a future with two channels, a
// timer, a map entry under a lock, a JSON decode of every ack): the pump
// keeps the unanswered entries in order and one timer for the oldest.
type pipeline struct {
	nc        *nats.Conn
	sub       *nats.Subscription
	answers   chan *nats.Msg
	reply     string // "<inbox>.", followed by the seq
	subjects  string // the events subjects up to the type: "liuhen.<token>.events."
	stream    string // the events stream
	ackPrefix []byte // JetStream's plain ack up to the sequence: {"stream":"<stream>","seq":
}

func (r *Relay) newPipeline() (*pipeline, error) {
	p := &pipeline{
		nc:       r.nc,
		answers:  make(chan *nats.Msg, r.cfg.MaxInflight+64),
		reply:    r.nc.NewRespInbox() + ".",
		subjects: strings.TrimSuffix(r.cfg.Layout.EventsFilter(), ">"),
		stream:   r.cfg.Layout.Events,
	}
	p.ackPrefix = fmt.Appendf(nil, "{%q:%q,%q:", "stream", p.stream, "seq")
	// At most MaxInflight answers are outstanding, so the channel never
	// fills; nats.go would drop an answer to a full one, which the
	// pump's timeout then catches.
	sub, err := r.nc.ChanSubscribe(p.reply+"*", p.answers)
	if err != nil {
		return nil, fmt.Errorf("outbox: subscribing to publish acks: %w", err)
	}
	p.sub = sub
	return p, nil
}

func (p *pipeline) close() { _ = p.sub.Unsubscribe() }

// publish hands entry seq to the connection with the headers that align
// the stream with the ledger. The header values share one array and the
// map is sized for them: a relay publishes tens of thousands of entries a
// second, and every allocation here is paid per entry.
func (p *pipeline) publish(seq uint64, b []byte) error {
	e, err := ledger.ScanEntry(b)
	if err != nil || e.Seq != seq {
		return fmt.Errorf("%w: entry %d does not read back: %v", ledger.ErrCorrupt, seq, err)
	}
	leaf := ledger.LeafHash(b)
	n := strconv.FormatUint(seq, 10)
	caseTok := natsrv.CaseToken(e.CaseID)
	v := &[7]string{e.ID.String(), n, n, hex.EncodeToString(leaf[:]), e.Type}
	h := make(nats.Header, 7)
	h[jetstream.MsgIDHeader] = v[0:1:1]
	h[jetstream.ExpectedLastSeqHeader] = v[1:2:2]
	h[natsrv.HeaderSeq] = v[2:3:3]
	h[natsrv.HeaderLeafHash] = v[3:4:4]
	h[natsrv.HeaderType] = v[4:5:5]
	if e.CaseID != uuid.Nil {
		v[5] = caseTok // the case id as text
		h[natsrv.HeaderCase] = v[5:6:6]
	}
	if e.DeviceID != "" {
		v[6] = e.DeviceID
		h[natsrv.HeaderDevice] = v[6:7:7]
	}
	// The connection copies the message into its buffer before returning
	// (and keeps that copy across a reconnect), so b is not retained.
	return p.nc.PublishMsg(&nats.Msg{
		Subject: p.subjects + natsrv.TypeTokens(e.Type) + "." + caseTok, // = Layout.EventSubject
		Reply:   p.reply + n,
		Data:    b,
		Header:  h,
	})
}

// record files answer m with the unanswered entry it is for. An answer
// for no entry in q (there is none while the pump runs) is ignored.
func (p *pipeline) record(q []inflight, m *nats.Msg) {
	seq, ok := parseUint([]byte(m.Subject[min(len(p.reply), len(m.Subject)):]))
	if !ok || len(q) == 0 || seq < q[0].seq || seq-q[0].seq >= uint64(len(q)) {
		return
	}
	f := &q[seq-q[0].seq]
	f.answered = true
	f.err = p.decode(m, &f.ack)
}

// decode reads JetStream's answer to a publish into ack, or returns the
// error it reports. The plain ack {"stream":"<stream>","seq":<n>} is read
// directly; any other answer (a duplicate, an error, a format this code
// does not know) is decoded as JSON.
func (p *pipeline) decode(m *nats.Msg, ack *jetstream.PubAck) error {
	d := m.Data
	if len(d) == 0 {
		if m.Header.Get("Status") == "503" {
			return nats.ErrNoResponders // no stream leader (yet)
		}
		return jetstream.ErrInvalidJSAck
	}
	if rest, ok := bytes.CutPrefix(d, p.ackPrefix); ok && len(rest) > 1 && rest[len(rest)-1] == '}' {
		if n, ok := parseUint(rest[:len(rest)-1]); ok {
			*ack = jetstream.PubAck{Stream: p.stream, Sequence: n}
			return nil
		}
	}
	var a struct {
		Error *jetstream.APIError `json:"error"`
		jetstream.PubAck
	}
	if err := json.Unmarshal(d, &a); err != nil {
		return fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, d)
	}
	if a.Error != nil {
		return a.Error
	}
	if a.Stream == "" {
		return fmt.Errorf("%w: %q", jetstream.ErrInvalidJSAck, d)
	}
	*ack = a.PubAck
	return nil
}

// parseUint reads a decimal number of at most 19 digits.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
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
		// A duplicate: R3's answer to a re-send, or the record id stored
		// somewhere it should not be. Look.
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
