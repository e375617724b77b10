// Package outbox is the relay that publishes the ledger to NATS JetStream:
// every entry exactly once, in order, and every signed checkpoint after the
// entries it covers.
//
// # Alignment
//
// The relay is the only writer of the events stream, and it publishes entry
// seq with the header Nats-Expected-Last-Sequence: seq, so JetStream's
// stream sequence is always the ledger seq plus one. JetStream then refuses
// a gap or a re-send however old it is. Entries carry no Nats-Msg-Id: the
// server would keep every id of its two-minute dedupe window in memory,
// and the expected sequence already refuses every re-send.
//
// A re-sent entry (after a lost ack, a disconnect, a leader change) is
// answered with error 10071 "wrong last sequence" (10164 on an R3 stream
// with a proposal in flight); a stream that earlier versions published to
// with message ids may answer a PubAck with Duplicate set. In every such
// case the relay reads the
// message at the entry's stream sequence: if it holds exactly the entry's
// bytes, the entry is published; if it holds something else, the stream
// has diverged from the ledger and the relay stops with a *DivergedError.
//
// # Cursor and reconciliation
//
// The cursor (Ledger.PublisherCursor) counts the entries JetStream has
// acknowledged; it moves only on acks. Each time the relay (re)connects it
// reconciles, in this order:
//
//  1. A stream longer than the ledger is refused: it holds entries the
//     ledger never wrote.
//  2. Every message the relay may have published without recording the
//     ack (stream sequences above the cursor), and the one at the cursor,
//     must equal the ledger's entry byte for byte; the first that differs
//     is refused, naming its seq. Nothing is ever overwritten.
//  3. A stream shorter than the cursor lost its tail (JetStream fsyncs
//     lazily); the relay republishes it.
//
// It then publishes from the stream's end, pipelined (MaxInflight publishes
// outstanding), and follows the ledger's head.
//
// # Failures
//
// The ledger's appends never wait for the relay (the HTTP API may hold
// requests back while a connected relay is far behind: see Backlog and
// api.Config.Backlog). When NATS is unreachable the relay
// retries with exponential backoff (MinBackoff to MaxBackoff) and catches up
// by itself when NATS returns; Status shows the lag meanwhile. Only a
// diverged stream, a closed ledger or a ledger error stops Run.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// Config configures a Relay. The zero value of every optional field means
// its default.
type Config struct {
	// Layout names the streams. Its Origin must be the ledger's; the zero
	// Layout means natsrv.NewLayout(ledger origin).
	Layout natsrv.Layout
	// MaxInflight is the most entries published and not yet acknowledged.
	// Default 4096.
	MaxInflight int
	// AckTimeout is how long a publish may wait for its ack before the
	// relay gives up on the pipeline and reconciles. Default 10 s, more
	// than an R3 stream leader election takes.
	AckTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts after a
	// failure; it doubles from MinBackoff after each failure without
	// progress. Defaults 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Linger is how long the relay waits, when the head moves while
	// nothing is in flight, before it publishes: the entries of the group
	// commits of that time then go to JetStream in one burst, which costs
	// the connection, the stream and its consumers less than a burst per
	// commit. Publishing lags by up to Linger more. Default
	// DefaultLinger; negative publishes at once.
	Linger time.Duration
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for Status's lag in seconds. Default time.Now.
	Now func() time.Time
}

// DefaultLinger is Config.Linger's default. Under single-record posts
// from 64 devices it took 8-13 % off the server's CPU per event
// (docs/performance.md).
const DefaultLinger = 5 * time.Millisecond

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Layout != (natsrv.Layout{}) {
		if err := c.Layout.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MaxInflight < 0 || c.AckTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		errs = append(errs, errors.New("outbox: Config sizes and durations must not be negative"))
	}
	if c.MaxBackoff != 0 && c.MinBackoff > c.MaxBackoff {
		errs = append(errs, errors.New("outbox: Config.MinBackoff exceeds MaxBackoff"))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults(origin string) {
	if c.Layout == (natsrv.Layout{}) {
		c.Layout = natsrv.NewLayout(origin)
	}
	c.Layout = c.Layout.WithDefaults()
	if c.MaxInflight == 0 {
		c.MaxInflight = 4096
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ErrDiverged is wrapped by every *DivergedError.
var ErrDiverged = errors.New("outbox: stream diverges from the ledger")

// A DivergedError says where a stream holds something the ledger does not.
// The relay never overwrites; an operator must find out why (another
// ledger's stream, a ledger restored from an older backup).
type DivergedError struct {
	Stream string // the stream's name
	Seq    uint64 // the ledger seq (events) or checkpoint size (checkpoints)
	What   string
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("outbox: stream %s diverges from the ledger at seq %d: %s", e.Stream, e.Seq, e.What)
}

// Unwrap makes errors.Is(err, ErrDiverged) true.
func (e *DivergedError) Unwrap() error { return ErrDiverged }

// Status is what the relay reports for `liuhen serve` and /metrics.
type Status struct {
	Published  uint64  // entries acknowledged by JetStream, from seq 0; equals Size when caught up
	Size       uint64  // the ledger's durable size
	Lag        uint64  // Size - Published
	LagSeconds float64 // age of the oldest unpublished entry (by recorded_at); 0 when caught up
	Checkpoint uint64  // size of the latest checkpoint published
	Connected  bool    // the relay is publishing (false while it backs off)
	Failures   uint64  // attempts that failed since start
	Resent     uint64  // entries JetStream had lost after acknowledging them, published again
	LastError  string  // the latest failure, "" if none
}

// A Relay publishes a ledger to JetStream. Run it once; Status is safe for
// concurrent use.
type Relay struct {
	l   *ledger.Ledger
	js  jetstream.JetStream
	cfg Config

	eventsPrefix string // the events subjects up to the type: "liuhen.<token>.events."

	published  atomic.Uint64 // entries acknowledged; written by the pump
	checkpoint atomic.Uint64 // size of the latest checkpoint published
	connected  atomic.Bool
	reconciled atomic.Bool   // published is what the stream holds, not just the stored cursor
	inStep     chan struct{} // closed when both streams were first found in step with the ledger
	inStepOnce sync.Once
	failures   atomic.Uint64
	resent     atomic.Uint64

	mu        sync.Mutex
	moved     chan struct{} // closed and replaced when published moves; guarded by mu
	lastError string        // guarded by mu

	// Test hooks, set before Run.
	afterPublish func(seq uint64) // after each entry is handed to the connection
	afterAck     func(seq uint64) // after each entry's ack is accepted
}

// New returns a relay for l over nc. It makes its own JetStream context, so
// its pending async publishes are not shared with anyone.
func New(l *ledger.Ledger, nc *nats.Conn, cfg Config) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults(l.Origin())
	if cfg.Layout.Origin != l.Origin() {
		return nil, fmt.Errorf("outbox: layout is for origin %q, the ledger is %q", cfg.Layout.Origin, l.Origin())
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxInflight),
		jetstream.WithPublishAsyncTimeout(cfg.AckTimeout),
		jetstream.WithDefaultTimeout(cfg.AckTimeout))
	if err != nil {
		return nil, err
	}
	cur, err := l.PublisherCursor()
	if err != nil {
		return nil, err
	}
	r := &Relay{l: l, js: js, cfg: cfg, moved: make(chan struct{}), inStep: make(chan struct{})}
	r.eventsPrefix = strings.TrimSuffix(cfg.Layout.EventsFilter(), ">")
	r.published.Store(cur)
	return r, nil
}

// Run publishes until ctx is done (it then returns nil) or a fatal error:
// a *DivergedError, or an error of the ledger.
func (r *Relay) Run(ctx context.Context) error {
	backoff := r.cfg.MinBackoff
	for {
		before := r.published.Load()
		err := r.session(ctx)
		r.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrDiverged) || errors.Is(err, ledger.ErrClosed) || errors.Is(err, ledger.ErrCorrupt) || r.l.Err() != nil {
			r.setError(err)
			return err
		}
		r.failures.Add(1)
		r.setError(err)
		if r.published.Load() != before {
			backoff = r.cfg.MinBackoff
		}
		r.cfg.Logger.Warn("outbox: publishing to JetStream failed; retrying", "err", err, "published", r.published.Load(), "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, r.cfg.MaxBackoff)
	}
}

func (r *Relay) setError(err error) {
	r.mu.Lock()
	r.lastError = err.Error()
	r.mu.Unlock()
}

// session reconciles and then publishes entries and checkpoints until one
// of them fails or ctx is done.
func (r *Relay) session(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pos, err := r.reconcile(ctx)
	if err != nil {
		return err
	}
	cp, err := r.reconcileCheckpoints(ctx)
	if err != nil {
		return err
	}
	r.inStepOnce.Do(func() { close(r.inStep) })
	r.setConnected(true)
	done := make(chan error, 1)
	go func() {
		err := r.pumpCheckpoints(ctx, cp)
		cancel(err)
		done <- err
	}()
	err = r.pump(ctx, pos)
	cancel(err)
	<-done
	return context.Cause(ctx) // the first failure of either
}

// InStep is closed once the relay has compared both streams with the
// ledger for the first time and found them in step: neither holds an entry
// or a checkpoint the ledger does not. Until then the ledger may be behind
// what was published (a ledger restored from an older backup beside a
// stream that kept the later entries), and an append would fork the log:
// serve listens only after it, or after a fatal *DivergedError from Run.
func (r *Relay) InStep() <-chan struct{} { return r.inStep }

// advance records that the first n entries are acknowledged.
func (r *Relay) advance(n uint64) {
	r.published.Store(n)
	r.wake()
}

// setConnected records whether a session is publishing. It wakes the
// waiters of movedCh too: an append held back for the backlog (Backlog)
// must go on as soon as the relay stops publishing, not at its timeout.
func (r *Relay) setConnected(c bool) {
	r.connected.Store(c)
	r.wake()
}

// wake closes and replaces the channel movedCh hands out.
func (r *Relay) wake() {
	r.mu.Lock()
	close(r.moved)
	r.moved = make(chan struct{})
	r.mu.Unlock()
}

func (r *Relay) movedCh() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.moved
}

// Status reports the relay's position and lag.
func (r *Relay) Status() Status {
	s := Status{
		Published:  r.published.Load(),
		Size:       r.l.Head().Size,
		Checkpoint: r.checkpoint.Load(),
		Connected:  r.connected.Load(),
		Failures:   r.failures.Load(),
		Resent:     r.resent.Load(),
	}
	r.mu.Lock()
	s.LastError = r.lastError
	r.mu.Unlock()
	if s.Published < s.Size {
		s.Lag = s.Size - s.Published
		if b, err := r.l.EntryAt(s.Published); err == nil {
			if e, err := ledger.ScanEntry(b); err == nil {
				s.LagSeconds = max(0, r.cfg.Now().Sub(e.RecordedAt).Seconds())
			}
		}
	}
	return s
}

// Backlog returns how many entries are not yet published, whether the relay
// is connected to NATS (publishing, so that the backlog shrinks as fast as
// JetStream takes entries), and a channel closed when the published
// position next moves or the relay connects or disconnects. Unlike Status
// it reads nothing from the ledger.
func (r *Relay) Backlog() (entries uint64, connected bool, moved <-chan struct{}) {
	moved = r.movedCh()
	if pub, size := r.published.Load(), r.l.Head().Size; pub < size {
		entries = size - pub
	}
	return entries, r.connected.Load(), moved
}

// Wait blocks until at least n entries are published or ctx is done. It
// counts only what this relay saw acknowledged or found in the stream, not
// the cursor stored by an earlier run.
func (r *Relay) Wait(ctx context.Context, n uint64) error {
	for {
		ch := r.movedCh()
		if r.reconciled.Load() && r.published.Load() >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
