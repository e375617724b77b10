// Package projtest builds ledgers and projection stores for tests.
package projtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/internal/feed"
)

// Ledger creates a ledger in a temporary directory holding recs, all of
// which must be accepted.
func Ledger(tb testing.TB, recs [][]byte) *ledger.Ledger {
	tb.Helper()
	skey, _, err := ledger.GenerateKey("liuhen.test/projections")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ledger.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := ledger.Create(ledger.Config{Dir: filepath.Join(tb.TempDir(), "ledger"), Origin: "liuhen.test/projections", Signer: signer})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	Append(tb, l, recs)
	return l
}

// Append appends recs to l, all of which must be accepted.
func Append(tb testing.TB, l *ledger.Ledger, recs [][]byte) {
	tb.Helper()
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		res, err := l.Append(context.Background(), recs[:n])
		if err != nil {
			tb.Fatal(err)
		}
		for i, r := range res {
			if r.Status != ledger.Accepted {
				tb.Fatalf("Append(%s) = %v %v, want Accepted", recs[i], r.Status, r.Err)
			}
		}
		recs = recs[n:]
	}
}

// Runtime returns a runtime over dir fed from l by feed consumers. Each
// configure function may change its configuration first.
func Runtime(tb testing.TB, l *ledger.Ledger, dir string, opts feed.Options, configure ...func(*projections.Config)) *projections.Runtime {
	tb.Helper()
	cfg := projections.Config{
		Dir:     dir,
		Consume: feed.Func(l, opts),
		Size:    func(context.Context) (uint64, error) { return l.Head().Size, nil },
	}
	for _, f := range configure {
		f(&cfg)
	}
	rt, err := projections.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}

// Start runs rt until the test ends, and closes it.
func Start(tb testing.TB, rt *projections.Runtime) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Runtime.Run: %v", err)
		}
		if err := rt.Close(); err != nil {
			tb.Errorf("Runtime.Close: %v", err)
		}
	})
}

// Build registers projs as store "read" over l, runs it and waits until it
// reflects the whole ledger.
func Build(tb testing.TB, l *ledger.Ledger, projs ...projections.Projection) *projections.Store {
	tb.Helper()
	rt := Runtime(tb, l, tb.TempDir(), feed.Options{})
	st, err := rt.Register("read", projs...)
	if err != nil {
		tb.Fatal(err)
	}
	Start(tb, rt)
	if err := st.Wait(context.Background(), l.Head().Size); err != nil {
		tb.Fatal(err)
	}
	return st
}
