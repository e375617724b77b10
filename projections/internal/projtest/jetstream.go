package projtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/outbox"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/consume"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// NATS is a real embedded nats-server with JetStream holding a ledger's
// streams, fed by the real relay.
type NATS struct {
	Server *server.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
	Layout natsrv.Layout
	Relay  *outbox.Relay
}

// JetStream starts an embedded server with its store in a temporary
// directory, the streams of l, and the relay publishing l, all until the
// test ends.
func JetStream(tb testing.TB, l *ledger.Ledger) *NATS {
	tb.Helper()
	s, err := natsrv.Embed(natsrv.EmbedConfig{StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := natsrv.ConnectEmbedded(s)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	n := &NATS{Server: s, Conn: nc, JS: js, Layout: natsrv.NewLayout(l.Origin())}
	if err := natsrv.EnsureStreams(context.Background(), js, n.Layout, 1); err != nil {
		tb.Fatal(err)
	}
	if n.Relay, err = outbox.New(l, nc, outbox.Config{Layout: n.Layout, Logger: Quiet}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Relay.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Relay.Run: %v", err)
		}
	})
	return n
}

// Published waits until the relay has published the first size entries.
func (n *NATS) Published(tb testing.TB, size uint64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.Relay.Wait(ctx, size); err != nil {
		tb.Fatalf("relay: %v (%+v)", err, n.Relay.Status())
	}
}

// Consume returns a ConsumeFunc making real JetStream consumers of the
// events stream (consume.New), as liuhen serve and liuhen project do.
func (n *NATS) Consume(opts consume.Options) projections.ConsumeFunc {
	opts.Stream = n.Layout.Events
	if opts.Logger == nil {
		opts.Logger = Quiet
	}
	return func(db *pebble.DB, name string, h projections.Handler) (projections.Consumer, error) {
		return consume.New(n.JS, db, name, h, opts)
	}
}

// RuntimeJS returns a runtime over dir fed through JetStream by n.
func RuntimeJS(tb testing.TB, l *ledger.Ledger, n *NATS, dir string, opts consume.Options) *projections.Runtime {
	tb.Helper()
	rt, err := projections.New(projections.Config{
		Dir:     dir,
		Consume: n.Consume(opts),
		Size:    func(context.Context) (uint64, error) { return l.Head().Size, nil },
		Logger:  Quiet,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}
