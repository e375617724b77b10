package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/internal/natsrv/natstest"
	"github.com/liuhen/liuhen/ledger"
)

// TestPublish: entries appended before and while the relay runs all reach
// the stream once, in order, with their headers; every checkpoint follows.
func TestPublish(t *testing.T) {
	l := newLedger(t, ledger.Config{})
	nc := embedded(t)
	appendRange(t, l, 0, 300, 50, "a")
	r := start(t, l, nc, nil)
	appendRange(t, l, 300, 1000, 7, "a")
	caughtUp(t, r, l)
	streamEqualsLedger(t, nc, l)
	if s := r.Status(); s.Published != 1000 || s.Lag != 0 || s.LagSeconds != 0 || !s.Connected {
		t.Errorf("Status() = %+v, want 1000 published and no lag", s)
	}
	if n, connected, _ := r.Backlog(); n != 0 || !connected {
		t.Errorf("Backlog() = %d, %v, want 0, true", n, connected)
	}
	if cur, _ := l.PublisherCursor(); cur != 1000 {
		t.Errorf("PublisherCursor() = %d, want 1000", cur)
	}
	select {
	case <-r.InStep():
	default:
		t.Error("InStep() is not closed after publishing")
	}

	// Checkpoints: the stream ends at the ledger's latest, and each one
	// verifies and grows.
	natstest.WaitFor(t, 20*time.Second, "the latest checkpoint", func() bool {
		return r.Status().Checkpoint == l.Checkpoint().Size
	})
	js, _ := jetstream.New(nc)
	c, err := js.OrderedConsumer(t.Context(), "LIUHEN_CHECKPOINTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(t.Context(), "LIUHEN_CHECKPOINTS")
	info, _ := s.Info(t.Context())
	var prev int64 = -1
	for range info.State.Msgs {
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := ledger.OpenCheckpoint(m.Data(), l.Origin(), l.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		if int64(cp.Size) <= prev || m.Headers().Get(natsrv.HeaderSize) != fmt.Sprint(cp.Size) {
			t.Fatalf("checkpoint %d after %d, headers %v", cp.Size, prev, m.Headers())
		}
		prev = int64(cp.Size)
	}
	if uint64(prev) != l.Checkpoint().Size {
		t.Errorf("last checkpoint published %d, ledger's %d", prev, l.Checkpoint().Size)
	}
}

// TestCrashPoints stops the relay at each point of its cycle and checks
// that another relay, on a reopened ledger, leaves the stream equal to the
// ledger: no gap, no duplicate.
func TestCrashPoints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, l *ledger.Ledger, nc func() *natsConn)
	}{
		{"after commit, before publish", func(t *testing.T, l *ledger.Ledger, nc func() *natsConn) {
			appendRange(t, l, 0, 400, 40, "c") // no relay running
		}},
		{"after publish, before the cursor moves", func(t *testing.T, l *ledger.Ledger, nc func() *natsConn) {
			appendRange(t, l, 0, 400, 40, "c")
			c := nc()
			r := start(t, l, c.nc, nil)
			caughtUp(t, r, l)
			r.stop(t)
			// The cursor as a crash would have left it.
			if err := l.SetPublisherCursor(150); err != nil {
				t.Fatal(err)
			}
		}},
		{"after publish, cursor never moved", func(t *testing.T, l *ledger.Ledger, nc func() *natsConn) {
			appendRange(t, l, 0, 400, 40, "c")
			c := nc()
			r := start(t, l, c.nc, nil)
			caughtUp(t, r, l)
			r.stop(t)
			if err := l.SetPublisherCursor(0); err != nil {
				t.Fatal(err)
			}
		}},
		{"mid-pipeline, connection lost", func(t *testing.T, l *ledger.Ledger, nc func() *natsConn) {
			appendRange(t, l, 0, 3000, 500, "c")
			c := nc()
			cut := make(chan struct{})
			r := start(t, l, c.nc, func(r *Relay) {
				r.afterPublish = func(seq uint64) {
					if seq == 1777 {
						c.nc.Close() // everything in flight is lost or unacknowledged
						close(cut)
					}
				}
			})
			<-cut
			r.stop(t)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() + "/ledger"
			l, err := ledger.Create(ledgerConfig(dir))
			if err != nil {
				t.Fatal(err)
			}
			srv, err := natsrv.Embed(natsrv.EmbedConfig{StoreDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
			conn := func() *natsConn {
				nc, err := natsrv.ConnectEmbedded(srv)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
				return &natsConn{nc}
			}
			ensure(t, conn().nc, 1)
			tc.crash(t, l, conn)

			// Restart the process: reopen the ledger, new connection and relay.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = ledger.Open(ledgerConfig(dir))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeLedger(t, l) })
			nc := conn().nc
			r := start(t, l, nc, nil)
			appendRange(t, l, 5000, 5100, 25, "c") // and the log goes on
			caughtUp(t, r, l)
			streamEqualsLedger(t, nc, l)
			if s := r.Status(); s.Resent != 0 {
				t.Errorf("Status().Resent = %d, want 0: JetStream lost nothing", s.Resent)
			}
		})
	}
}

// TestStreamLostTail: JetStream lost entries it had acknowledged (here:
// all of them, the stream was recreated); the relay publishes them again.
func TestStreamLostTail(t *testing.T) {
	l := newLedger(t, ledger.Config{})
	nc := embedded(t)
	appendRange(t, l, 0, 500, 100, "t")
	r := start(t, l, nc, nil)
	caughtUp(t, r, l)
	r.stop(t)
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(t.Context(), "LIUHEN_EVENTS"); err != nil {
		t.Fatal(err)
	}
	ensure(t, nc, 1)
	r = start(t, l, nc, nil)
	caughtUp(t, r, l)
	streamEqualsLedger(t, nc, l)
	if s := r.Status(); s.Resent != 500 {
		t.Errorf("Status().Resent = %d, want 500", s.Resent)
	}
}

// TestDiverged: a stream that holds another ledger's entry at some seq, or
// more entries than the ledger, is refused, naming the seq; nothing is
// overwritten.
func TestDiverged(t *testing.T) {
	nc := embedded(t)
	a := newLedger(t, ledger.Config{Dir: t.TempDir() + "/a", Origin: testOrigin, Signer: testSigner, Logger: quiet, Now: clock()})
	appendRange(t, a, 0, 60, 10, "same")
	appendRange(t, a, 60, 100, 10, "a")
	r := start(t, a, nc, nil)
	caughtUp(t, r, a)
	r.stop(t)

	// b wrote the same first 60 entries, byte for byte, then others.
	b := newLedger(t, ledger.Config{Dir: t.TempDir() + "/b", Origin: testOrigin, Signer: testSigner, Logger: quiet, Now: clock()})
	appendRange(t, b, 0, 60, 10, "same")
	appendRange(t, b, 60, 120, 10, "b")
	r = start(t, b, nc, nil)
	err := r.result(t)
	var d *DivergedError
	if !errors.As(err, &d) || d.Seq != 60 || d.Stream != "LIUHEN_EVENTS" {
		t.Fatalf("Run() = %v, want a DivergedError at seq 60", err)
	}
	t.Logf("Run() = %v", err)
	select {
	case <-r.InStep():
		t.Error("InStep() is closed for a ledger the stream diverges from")
	default:
	}

	// c is shorter than the stream.
	c := newLedger(t, ledger.Config{Dir: t.TempDir() + "/c", Origin: testOrigin, Signer: testSigner, Logger: quiet, Now: clock()})
	appendRange(t, c, 0, 60, 10, "same")
	r = start(t, c, nc, nil)
	err = r.result(t)
	if !errors.As(err, &d) || d.Seq != 60 {
		t.Fatalf("Run() = %v, want a DivergedError at seq 60", err)
	}
	select {
	case <-r.InStep():
		t.Error("InStep() is closed for a ledger shorter than the stream")
	default:
	}
	streamEqualsLedger(t, nc, a) // untouched
}

// TestNATSDown: appends go on while the server is down; the relay catches
// up by itself when it is back.
func TestNATSDown(t *testing.T) {
	l := newLedger(t, ledger.Config{})
	n := natstest.Single(t)
	nc := natstest.Connect(t, n.ClientURL())
	ensure(t, nc, 1)
	r := start(t, l, nc, nil)
	appendRange(t, l, 0, 500, 50, "d")
	caughtUp(t, r, l)

	_, _, wasConnected := r.Backlog()
	n.Stop()
	appendRange(t, l, 500, 1500, 50, "d") // accepted and fsynced without NATS
	natstest.WaitFor(t, 20*time.Second, "the relay to notice", func() bool {
		s := r.Status()
		return !s.Connected && s.Lag == 1000 && s.LastError != ""
	})
	t.Logf("while down: %+v", r.Status())
	// The API holds no append back for a relay that cannot publish, and
	// one held while it was connected is woken when it disconnects.
	if n, connected, _ := r.Backlog(); n != 1000 || connected {
		t.Errorf("Backlog() while down = %d, %v, want 1000, false", n, connected)
	}
	select {
	case <-wasConnected:
	default:
		t.Error("the channel from Backlog was not closed when the relay disconnected")
	}
	_, _, moved := r.Backlog()

	n.Start(t)
	appendRange(t, l, 1500, 1600, 50, "d")
	caughtUp(t, r, l)
	streamEqualsLedger(t, nc, l)
	if s := r.Status(); s.Failures == 0 || !s.Connected || s.Lag != 0 {
		t.Errorf("Status() = %+v", s)
	}
	select {
	case <-moved:
	default:
		t.Error("the channel from Backlog was not closed when the relay published")
	}
}

// TestClusterLeaderKilled: an R3 stream on a three-node cluster; the stream
// leader is shut down while the relay publishes, and the stream still
// equals the ledger.
func TestClusterLeaderKilled(t *testing.T) {
	nodes := natstest.Cluster(t, 3)
	nc := natstest.Connect(t, natstest.URLs(nodes...))
	ensure(t, nc, 3)
	l := newLedger(t, ledger.Config{})
	r := start(t, l, nc, nil)

	appended := make(chan error, 1)
	go func() {
		for i := 0; i < 4000; i += 100 {
			var raws [][]byte
			for j := i; j < i+100; j++ {
				raws = append(raws, record(j, "r3"))
			}
			if _, err := l.Append(context.Background(), raws); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Wait(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "LIUHEN_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := info.Cluster.Leader
	for _, n := range nodes {
		if n.Opts.ServerName == leader {
			n.Stop()
		}
	}
	t.Logf("stopped stream leader %s at %d published", leader, r.Status().Published)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	caughtUp(t, r, l)
	streamEqualsLedger(t, nc, l)
	t.Logf("status %+v", r.Status())
}

// TestResend pins the answers to a re-sent entry that the package doc
// describes, and that the relay takes them as success.
func TestResend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
	}{{"R1", 1}, {"R3", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			var nc *natsConn
			if tc.replicas == 1 {
				nc = &natsConn{embedded(t)}
			} else {
				nodes := natstest.Cluster(t, 3)
				nc = &natsConn{natstest.Connect(t, natstest.URLs(nodes...))}
				ensure(t, nc.nc, 3)
			}
			l := newLedger(t, ledger.Config{})
			appendRange(t, l, 0, 20, 20, "x")
			r := start(t, l, nc.nc, nil)
			caughtUp(t, r, l)
			r.stop(t)

			s, _ := r.js.Stream(t.Context(), "LIUHEN_EVENTS")
			for _, seq := range []uint64{5, 19} {
				b, _ := l.EntryAt(seq)
				f, err := r.publish(seq, b)
				if err != nil {
					t.Fatal(err)
				}
				var ack *jetstream.PubAck
				select {
				case ack = <-f.Ok():
				case err = <-f.Err():
				}
				// Without a message id, R1 and R3 both answer with the
				// expected sequence.
				if !wrongLastSeq(err) {
					t.Errorf("%s re-send of %d: ack %+v, err %v; want error 10071", tc.name, seq, ack, err)
				}
				if err := r.accept(t.Context(), s, seq, ack, err); err != nil {
					t.Errorf("accept(re-send of %d) = %v, want nil", seq, err)
				}
				// An R3 stream that an earlier version published to with
				// message ids answers a duplicate ack instead: also
				// confirmed against the stream.
				dup := &jetstream.PubAck{Stream: "LIUHEN_EVENTS", Sequence: seq + 1, Duplicate: true}
				if err := r.accept(t.Context(), s, seq, dup, nil); err != nil {
					t.Errorf("accept(duplicate ack of %d) = %v, want nil", seq, err)
				}
			}
			// A gap is refused by JetStream and not taken as success.
			appendRange(t, l, 20, 22, 2, "x")
			b, _ := l.EntryAt(21)
			f, _ := r.publish(21, b)
			var ack *jetstream.PubAck
			var err error
			select {
			case ack = <-f.Ok():
			case err = <-f.Err():
			}
			if err := r.accept(t.Context(), s, 21, ack, err); err == nil || errors.Is(err, ErrDiverged) {
				t.Errorf("accept(gap) = %v, want a retryable error", err)
			}
			if info, err := s.Info(t.Context()); err != nil || info.State.LastSeq != 20 {
				t.Errorf("after a refused gap the stream is at %v (%v), want 20", info.State.LastSeq, err)
			}
		})
	}
}

type natsConn struct{ nc *nats.Conn }
