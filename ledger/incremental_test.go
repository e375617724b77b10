package ledger

import (
	"context"
	"errors"
	"testing"
)

func TestVerifyFrom(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Now = fixedClock()
	l := newTestLedger(t, cfg)
	for i := range 40 {
		mustAppend(t, l, rec(i, i%3))
	}
	trusted, err := l.CheckpointCovering(context.Background(), 40)
	if err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 95; i++ {
		mustAppend(t, l, rec(i, i%4-1))
	}
	rep, err := l.VerifyFrom(context.Background(), trusted.Note)
	if err != nil {
		t.Fatalf("VerifyFrom(size %d) = %v", trusted.Size, err)
	}
	if rep.From != trusted.Size || rep.Size != 95 {
		t.Fatalf("VerifyFrom checked [%d, %d), want [%d, 95)", rep.From, rep.Size, trusted.Size)
	}
	// A checkpoint signed by another key is refused.
	other, _ := NewSigner(mustKey(t, testOrigin))
	forged, _ := signCheckpoint(other, testOrigin, trusted.Size, trusted.Root)
	if _, err := l.VerifyFrom(context.Background(), forged); err == nil {
		t.Fatal("VerifyFrom accepted a checkpoint signed by another key")
	}
}

// TestVerifyFromCatchesRewrittenHistory: two ledgers with the same key share
// their first 30 entries, then diverge. An auditor who trusted the first
// ledger's checkpoint at 40 must catch the second, although every one of its
// checkpoints is validly signed.
func TestVerifyFromCatchesRewrittenHistory(t *testing.T) {
	build := func(fork bool) *Ledger {
		cfg := testConfig(t, nil)
		cfg.Now = fixedClock()
		l := newTestLedger(t, cfg)
		for i := range 60 {
			r := rec(i, i%3)
			if fork && i >= 30 {
				r = rec(1000+i, i%3) // history rewritten from seq 30 on
			}
			mustAppend(t, l, r)
		}
		return l
	}
	honest, forked := build(false), build(true)
	if a, _ := honest.RootAt(30); a != mustRoot(t, forked, 30) {
		t.Fatal("the two ledgers should share their first 30 entries")
	}
	trusted, err := honest.CheckpointCovering(context.Background(), 40)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := honest.VerifyFrom(context.Background(), trusted.Note); err != nil {
		t.Fatalf("honest ledger: %v", err)
	}
	_, err = forked.VerifyFrom(context.Background(), trusted.Note)
	var ce *ChainError
	if !errors.As(err, &ce) {
		t.Fatalf("forked ledger: VerifyFrom = %v, want a ChainError", err)
	}
	if ce.Seq != trusted.Size-1 {
		t.Fatalf("forked ledger: error at seq %d, want %d (the trusted size): %v", ce.Seq, trusted.Size-1, err)
	}
	// The forked ledger's own full Verify passes: only the trusted
	// checkpoint exposes the rewrite.
	if _, err := forked.Verify(context.Background()); err != nil {
		t.Fatalf("forked ledger is internally consistent, Verify = %v", err)
	}
}

func mustRoot(t *testing.T, l *Ledger, size uint64) Hash {
	t.Helper()
	r, err := l.RootAt(size)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
