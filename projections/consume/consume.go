// Package consume feeds a read model from the ledger's JetStream events
// stream, verifying every entry on the way in.
//
// A Consumer is a durable pull consumer on the events stream. For each
// entry it checks, before the Handler sees it, that
//
//   - the stream sequence is the next one (entry seq = position),
//   - the payload's RFC 6962 leaf hash equals the Liuhen-Leaf-Hash header,
//   - the entry reads, carries that seq, and its prev is the leaf hash of
//     the entry before it (the one stored with the position), and
//   - the Liuhen-Seq header and the subject agree with the entry.
//
// A failure is a *ledger.ChainError naming the seq: Run stops there, having
// applied everything before it, and never skips. Case chains (case_seq,
// case_prev) and the Merkle root are checked by Ledger.Verify and `liuhen
// verify`, not here.
//
// # Position
//
// The position (entries applied, from seq 0) and the leaf hash of the last
// applied entry live in the reader's own Pebble, under
//
//	key                              value
//	"\x00consume/" name "/pos"       position:8 big-endian | last leaf hash:32
//
// and are written in the same pebble.Batch as the Handler's writes, one
// batch per fetched group of entries. A crash therefore loses both or
// neither; redeliveries at or below the position are skipped. Projections
// must keep their own keys outside the "\x00consume/" prefix.
//
// JetStream's ack is only a hint: entries are acknowledged after the batch
// commits, and if the durable consumer on the server is ever ahead of the
// stored position (a reader restored from a backup, a batch not fsynced
// with NoSync), or has delivered entries after it that were never applied
// (a stop or a crash mid-batch), it is recreated at the stored position.
//
// One Consumer per name may run at a time.
package consume

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/internal/commitq"
)

// Handler applies one verified entry to the read model, writing only into b.
// It is called from one goroutine, in seq order. An error stops Run and the
// batch is not committed; e.Bytes is valid only during the call.
type Handler interface {
	Apply(ctx context.Context, b *pebble.Batch, e *ledger.Entry) error
}

// A Flusher is a Handler that keeps part of its writes in memory across the
// entries of a batch (a read model that many entries of a batch change is
// then written once per batch). If the Handler is a Flusher, Flush is
// called once per batch, after the batch's last Apply and before the batch
// is committed with the position; it writes into b only. An error stops Run
// and the batch is not committed.
type Flusher interface {
	Flush(ctx context.Context, b *pebble.Batch) error
}

// A Preparer is a Handler that can do part of its work on an entry ahead of
// its turn. Prepare is called on the subscription's delivery goroutine, for
// every entry that passed the checks of one message (see the package doc),
// concurrently with Apply of earlier entries and possibly for entries that
// turn out to be redeliveries; it must not depend on the read model. The
// entry's turn then comes with ApplyPrepared instead of Apply, given what
// Prepare returned; a Prepare error stops Run there, as an Apply error does.
// e.Bytes stays valid from Prepare to the end of ApplyPrepared.
type Preparer interface {
	Prepare(e *ledger.Entry) (any, error)
	ApplyPrepared(ctx context.Context, b *pebble.Batch, e *ledger.Entry, prepared any) error
}

// A Settler is a Handler that keeps writes of earlier batches in memory
// and sometimes needs all of them committed before it takes the next batch
// (to drop them). The consumer commits each batch while it applies the
// next; before a batch, if Settle reports true, it first waits for the
// commit in flight.
type Settler interface {
	Settle() bool
}

// Options configures a Consumer. The zero value of every field means its
// default.
type Options struct {
	// Stream is the events stream. Default "LIUHEN_EVENTS".
	Stream string
	// Batch is the most entries applied in one Pebble batch, and half the
	// consumer's pull size. A batch takes what has arrived, up to Batch:
	// while catching up that is Batch, and larger batches mean fewer
	// commits and acks, and read models that write a case once per batch
	// write it less often. Default 4096.
	Batch int
	// Linger is how long a batch that is not full waits for more entries
	// after its first. While catching up batches fill at once; live, a
	// few milliseconds turn many small batches, each committed (fsynced),
	// flushed and acknowledged on its own, into fewer larger ones, and
	// free CPU for ingest: a read model then lags by up to Linger more.
	// Default 30 ms (10 ms until 2026-12-08; docs/performance.md);
	// negative: no waiting.
	Linger time.Duration
	// AckWait is how long JetStream waits for an ack before redelivering.
	// Default 30 s.
	AckWait time.Duration
	// NoSync commits batches without fsync. The read model may then lose
	// its last batches in a crash, together with their position; they are
	// delivered again. Default false.
	NoSync bool
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

// A Consumer applies the events stream to a read model. Position and
// Caught are safe for concurrent use; Run is called once.
type Consumer struct {
	js   jetstream.JetStream
	db   *pebble.DB
	name string
	h    Handler
	opts Options
	key  []byte

	pos atomic.Uint64 // entries applied and committed; written by the commits
	// Owned by Run: the entries applied, committed or queued for commit,
	// the leaf hash of the last, and the commits.
	applied  uint64
	last     ledger.Hash
	q        commitq.Queue
	batchLen int // size of the last batch committed, in bytes; owned by Run

	mu    sync.Mutex
	moved chan struct{} // closed and replaced when pos moves; guarded by mu
}

// PositionKey is the key under which the consumer name keeps its position.
func PositionKey(name string) []byte { return []byte("\x00consume/" + name + "/pos") }

// New returns a consumer named name (also the durable consumer's name:
// letters, digits, '-' and '_') reading the stored position from db.
func New(js jetstream.JetStream, db *pebble.DB, name string, h Handler, opts Options) (*Consumer, error) {
	var errs []error
	if !validName(name) {
		errs = append(errs, fmt.Errorf("consume: name %q must be letters, digits, '-' and '_'", name))
	}
	if js == nil || db == nil || h == nil {
		errs = append(errs, errors.New("consume: JetStream, Pebble and Handler are required"))
	}
	if opts.Batch < 0 || opts.AckWait < 0 {
		errs = append(errs, errors.New("consume: Options must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Stream == "" {
		opts.Stream = natsrv.NewLayout("x").Events
	}
	if opts.Batch == 0 {
		opts.Batch = 4096
	}
	if opts.Linger == 0 {
		opts.Linger = 30 * time.Millisecond
	}
	if opts.AckWait == 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Consumer{js: js, db: db, name: name, h: h, opts: opts, key: PositionKey(name), moved: make(chan struct{})}
	v, closer, err := db.Get(c.key)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("consume %s: reading the position: %w", name, err)
	default:
		defer closer.Close()
		if len(v) != 40 {
			return nil, fmt.Errorf("consume %s: position record is %d bytes, want 40", name, len(v))
		}
		c.pos.Store(binary.BigEndian.Uint64(v))
		copy(c.last[:], v[8:])
		c.applied = c.Position()
	}
	return c, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Position returns how many entries have been applied and committed. It
// equals the ledger's size when the consumer has caught up.
func (c *Consumer) Position() uint64 { return c.pos.Load() }

// Caught waits until Position() >= size or ctx is done.
func (c *Consumer) Caught(ctx context.Context, size uint64) error {
	for {
		c.mu.Lock()
		ch := c.moved
		c.mu.Unlock()
		if c.pos.Load() >= size {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// errGap is a delivery that skipped entries: the subscription is restarted
// at the position.
type errGap struct{ want, got uint64 }

func (e *errGap) Error() string {
	return fmt.Sprintf("consume: delivered entry %d, want %d", e.got, e.want)
}

// Run consumes until ctx is done (it then returns nil) or a fatal error: a
// *ledger.ChainError (errors.Is ledger.ErrCorrupt), the Handler's error, or
// a Pebble error. While NATS is unreachable it keeps retrying.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	gaps := 0
	for {
		before := c.Position()
		err := c.session(ctx)
		// The commit in flight lands before anything else: a restart
		// begins at the committed position, and the store's caches may
		// be dropped only once it holds every batch.
		if werr := c.q.Wait(); werr != nil {
			return fmt.Errorf("consume %s: commit: %w", c.name, werr)
		}
		c.applied = c.Position()
		if ctx.Err() != nil {
			return nil
		}
		var gap *errGap
		switch {
		case errors.As(err, &gap):
			// Redeliveries interleave with new deliveries; a real hole in
			// the stream shows up again at the same place.
			if gaps++; gaps >= 3 && c.Position() == before {
				return &ledger.ChainError{Seq: gap.want, What: "missing entry", Want: fmt.Sprint(gap.want), Got: fmt.Sprint(gap.got)}
			}
			c.opts.Logger.Warn("consume: delivery skipped entries; restarting at the position", "name", c.name, "err", err)
			continue
		case errors.Is(err, errFatal):
			return errors.Unwrap(err)
		}
		gaps = 0
		if c.Position() != before {
			backoff = 100 * time.Millisecond
		}
		c.opts.Logger.Warn("consume: reading the stream failed; retrying", "name", c.name, "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// errFatal marks errors that stop Run.
var errFatal = errors.New("fatal")

type fatalErr struct{ err error }

func (f fatalErr) Error() string        { return f.err.Error() }
func (f fatalErr) Is(target error) bool { return target == errFatal }
func (f fatalErr) Unwrap() error        { return f.err }

// pullExpiry is how long a pull request of the subscription lasts; see
// session.
const pullExpiry = 4 * time.Second

// session subscribes at the position and applies batches until an error.
//
// The subscription's delivery goroutine does the checks that need one
// message only (leaf hash, reading the entry, headers, subject: see check),
// so that they run beside the Handler; Run's goroutine checks the chain
// (seq against the position, prev against the last leaf hash), applies and
// commits.
func (c *Consumer) session(ctx context.Context) error {
	cons, err := c.durable(ctx)
	if err != nil {
		return err
	}
	ch := make(chan delivery, 2*c.opts.Batch)
	done := make(chan struct{})
	defer close(done)
	prep, _ := c.h.(Preparer)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		d := check(m)
		if prep != nil && d.e != nil {
			d.prepared, d.prepErr = prep.Prepare(d.e)
		}
		select {
		case ch <- d:
		case <-done:
		}
	},
		jetstream.PullMaxMessages(2*c.opts.Batch),
		// Pull requests expire after pullExpiry, with idle heartbeats at
		// half that. Now and then (about one run in ten of TestSettler,
		// under the race detector on two busy cores) nats.go's Consume
		// stops pulling: it asks for more only when a message arrives
		// and no pull request is being sent, and when every message it
		// asked for, those of the request it is sending included, has
		// arrived before that send returns, it never asks again (seen
		// with debug output in its checkPending, nats.go v1.55.0;
		// v1.56.0 has the same code). It recovers when the heartbeats
		// it expects fail to arrive, after two heartbeat intervals:
		// with the default expiry (30 s) the read model stood still for
		// 30 s.
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.opts.Logger.Debug("consume: pull", "name", c.name, "err", err)
		}))
	if err != nil {
		return err
	}
	defer cc.Stop()
	ds := make([]delivery, 0, c.opts.Batch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		select {
		case d := <-ch:
			ds = append(ds[:0], d)
		case <-cc.Closed():
			return errors.New("consume: subscription closed")
		case <-ctx.Done():
			return ctx.Err()
		}
		deadline := time.Now().Add(c.opts.Linger)
	more:
		for len(ds) < c.opts.Batch {
			select {
			case d := <-ch:
				ds = append(ds, d)
				continue
			default:
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				break more
			}
			linger.Reset(wait)
			select {
			case d := <-ch:
				linger.Stop()
				ds = append(ds, d)
			case <-linger.C:
				break more
			case <-cc.Closed():
				linger.Stop()
				break more
			case <-ctx.Done():
				linger.Stop()
				return ctx.Err()
			}
		}
		if err := c.apply(ctx, ds); err != nil {
			return err
		}
		clear(ds) // drop the messages' buffers
	}
}

// durable returns the durable consumer, created at the position, or
// recreated there if the server's copy is ahead of it.
func (c *Consumer) durable(ctx context.Context) (jetstream.Consumer, error) {
	pos := c.Position()
	cfg := jetstream.ConsumerConfig{
		Durable:       c.name,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       c.opts.AckWait,
		MaxAckPending: 4 * c.opts.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if pos > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = pos + 1
	}
	cons, err := c.js.Consumer(ctx, c.opts.Stream, c.name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return c.js.CreateConsumer(ctx, c.opts.Stream, cfg)
	}
	if err != nil {
		return nil, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case info.AckFloor.Stream > pos:
		c.opts.Logger.Warn("consume: the durable consumer is ahead of the stored position; recreating it",
			"name", c.name, "position", pos, "ack_floor", info.AckFloor.Stream)
	case info.Delivered.Stream > pos:
		// Entries after the position were delivered and never applied (a
		// stop or a crash with a batch in flight). The server would send
		// them again only after AckWait, and the entries after them at
		// once: a gap. Start again at the position instead.
		c.opts.Logger.Debug("consume: deliveries after the stored position are pending; recreating the durable consumer at the position",
			"name", c.name, "position", pos, "delivered", info.Delivered.Stream)
	default:
		return cons, nil
	}
	if err := c.js.DeleteConsumer(ctx, c.opts.Stream, c.name); err != nil {
		return nil, err
	}
	return c.js.CreateConsumer(ctx, c.opts.Stream, cfg)
}

// BatchRetained is the largest batch buffer a consumer keeps for its next
// batch. Catching up, a batch of Batch (4096) entries of the read models'
// writes is a few megabytes.
const BatchRetained = 32 << 20

// apply applies ds in one batch and queues it for commit; the commit
// acknowledges the deliveries. On a broken entry it commits what came before
// it and returns the *ledger.ChainError.
func (c *Consumer) apply(ctx context.Context, ds []delivery) error {
	// Sized once rather than doubling its way up, and kept in Pebble's
	// pool up to BatchRetained once committed, so that the next batch
	// reuses the buffer instead of allocating (and zeroing) megabytes.
	b := c.db.NewBatchWithSize(c.batchLen, pebble.WithMaxRetainedSizeBytes(BatchRetained))
	queued := false
	defer func() {
		if !queued {
			b.Close()
		}
	}()
	if st, ok := c.h.(Settler); ok && st.Settle() {
		if err := c.q.Wait(); err != nil {
			return fatalErr{fmt.Errorf("consume %s: commit: %w", c.name, err)}
		}
	}
	pos, last := c.applied, c.last
	var stop error
	for i := range ds {
		d := &ds[i]
		if d.metaErr != nil {
			stop = d.metaErr
			break
		}
		if d.seq < pos {
			continue // redelivered
		}
		if d.seq > pos {
			stop = &errGap{want: pos, got: d.seq}
			break
		}
		err := d.err
		if err == nil && d.e.Prev != last {
			err = &ledger.ChainError{Seq: d.seq, What: "prev", Want: ledger.Hex(last), Got: ledger.Hex(d.e.Prev)}
		}
		if err != nil {
			stop = fatalErr{fmt.Errorf("consume %s: %w", c.name, err)}
			break
		}
		if prep, ok := c.h.(Preparer); ok {
			err = d.prepErr
			if err == nil {
				err = prep.ApplyPrepared(ctx, b, d.e, d.prepared)
			}
		} else {
			err = c.h.Apply(ctx, b, d.e)
		}
		if err != nil {
			return fatalErr{fmt.Errorf("consume %s: applying entry %d: %w", c.name, d.seq, err)}
		}
		pos, last = pos+1, d.leaf
	}
	// AckAll: one ack covers the batch, sent once what it covers is
	// committed. The position, not the ack, is the truth; a lost ack only
	// means redeliveries that are skipped.
	var ack jetstream.Msg
	if stop == nil && len(ds) > 0 {
		ack = ds[len(ds)-1].m
	}
	if pos == c.applied {
		// Nothing new: redeliveries only, or a stop at the first entry.
		if err := c.q.Wait(); err != nil {
			return fatalErr{fmt.Errorf("consume %s: commit: %w", c.name, err)}
		}
		if ack != nil {
			_ = ack.Ack()
		}
		return stop
	}
	if f, ok := c.h.(Flusher); ok {
		if err := f.Flush(ctx, b); err != nil {
			return fatalErr{fmt.Errorf("consume %s: flushing entries up to %d: %w", c.name, pos-1, err)}
		}
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), pos)
	v = append(v, last[:]...)
	if err := b.Set(c.key, v, nil); err != nil {
		return fatalErr{err}
	}
	opt := pebble.Sync
	if c.opts.NoSync {
		opt = pebble.NoSync
	}
	c.batchLen = min(b.Len(), 64<<20)
	c.applied, c.last = pos, last
	queued = true
	if err := c.q.Commit(b, opt, func() {
		c.pos.Store(pos)
		c.mu.Lock()
		close(c.moved)
		c.moved = make(chan struct{})
		c.mu.Unlock()
		if ack != nil {
			_ = ack.Ack()
		}
	}); err != nil {
		return fatalErr{fmt.Errorf("consume %s: commit: %w", c.name, err)}
	}
	return stop
}

// A delivery is a message with what check found out about it.
type delivery struct {
	m       jetstream.Msg
	seq     uint64        // entry seq: stream sequence - 1
	metaErr error         // the message has no JetStream metadata
	e       *ledger.Entry // the entry read from the payload, if err is nil
	// What a Preparer's Prepare returned for e.
	prepared any
	prepErr  error
	leaf     ledger.Hash // leaf hash of the payload
	err      error       // a *ledger.ChainError found by check
}

// check verifies what one delivered message shows by itself (see the
// package doc): the payload's leaf hash against the header, the entry read
// from it, its seq against the stream sequence and the Liuhen-Seq header,
// and the subject. The chain link (prev) is checked in apply.
func check(m jetstream.Msg) delivery {
	md, err := m.Metadata()
	if err != nil {
		return delivery{m: m, metaErr: err}
	}
	d := delivery{m: m, seq: md.Sequence.Stream - 1}
	seq := d.seq
	data := m.Data()
	h := m.Headers()
	d.leaf = ledger.LeafHash(data)
	if got := h.Get(natsrv.HeaderLeafHash); !hexEqual(got, d.leaf) {
		d.err = &ledger.ChainError{Seq: seq, What: "leaf hash (payload against the " + natsrv.HeaderLeafHash + " header)", Want: got, Got: ledger.Hex(d.leaf)}
		return d
	}
	e, err := ledger.ScanEntry(data)
	switch {
	case err != nil:
		d.err = &ledger.ChainError{Seq: seq, What: "entry does not read: " + err.Error()}
	case e.Seq != seq:
		d.err = &ledger.ChainError{Seq: seq, What: "seq", Want: fmt.Sprint(seq), Got: fmt.Sprint(e.Seq)}
	case !decimalEqual(h.Get(natsrv.HeaderSeq), seq):
		d.err = &ledger.ChainError{Seq: seq, What: natsrv.HeaderSeq + " header", Want: fmt.Sprint(seq), Got: h.Get(natsrv.HeaderSeq)}
	case !subjectMatches(m.Subject(), e):
		d.err = &ledger.ChainError{Seq: seq, What: "subject", Want: "…" + ".events." + natsrv.TypeTokens(e.Type) + "." + natsrv.CaseToken(e.CaseID), Got: m.Subject()}
	default:
		d.e = e
	}
	return d
}

// hexEqual reports whether s is h in lowercase hex, without allocating.
func hexEqual(s string, h ledger.Hash) bool {
	const digits = "0123456789abcdef"
	if len(s) != 2*len(h) {
		return false
	}
	for i, c := range h {
		if s[2*i] != digits[c>>4] || s[2*i+1] != digits[c&0xf] {
			return false
		}
	}
	return true
}

// decimalEqual reports whether s is n in decimal, without allocating.
func decimalEqual(s string, n uint64) bool {
	var buf [20]byte
	return s == string(strconv.AppendUint(buf[:0], n, 10))
}

// subjectMatches reports whether subject ends in ".events.<type tokens>.<case
// token>" (natsrv.TypeTokens, natsrv.CaseToken), without allocating.
func subjectMatches(subject string, e *ledger.Entry) bool {
	var buf [36]byte
	ct := append(buf[:0], natsrv.NoCase...)
	if e.CaseID != uuid.Nil {
		ct = appendUUID(buf[:0], e.CaseID)
	}
	n := len(subject) - len(ct)
	if n < 1 || subject[n-1] != '.' || subject[n:] != string(ct) {
		return false
	}
	rest := subject[:n-1]
	area, action, ok := strings.Cut(e.Type, ".")
	if !ok {
		area, action = e.Type, "-"
	}
	n = len(rest) - len(action)
	if n < 0 || !sameExceptDots(rest[n:], action) {
		return false
	}
	rest, ok = strings.CutSuffix(rest[:n], ".")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, area)
	return ok && strings.HasSuffix(rest, ".events.")
}

// sameExceptDots reports whether tok is action with every '.' as '-'.
func sameExceptDots(tok, action string) bool {
	for i := 0; i < len(action); i++ {
		c := action[i]
		if c == '.' {
			c = '-'
		}
		if tok[i] != c {
			return false
		}
	}
	return true
}

// appendUUID appends u in its 8-4-4-4-12 lowercase form.
func appendUUID(b []byte, u uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}
