package outbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

const testOrigin = "liuhen.test/outbox"

var testSigner = func() *ledger.Signer {
	skey, _, err := ledger.GenerateKey(testOrigin)
	if err != nil {
		panic(err)
	}
	s, err := ledger.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	return s
}()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock returns a deterministic clock: two ledgers fed the same records
// write the same bytes.
func clock() func() time.Time {
	t := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Millisecond); return t }
}

func ledgerConfig(dir string) ledger.Config {
	return ledger.Config{Dir: dir, Origin: testOrigin, Signer: testSigner, Logger: quiet}
}

// newLedger creates a ledger that is verified and closed at cleanup.
func newLedger(t testing.TB, cfg ledger.Config) *ledger.Ledger {
	t.Helper()
	if cfg.Dir == "" {
		cfg = ledgerConfig(t.TempDir() + "/ledger")
	}
	l, err := ledger.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeLedger(t, l) })
	return l
}

func closeLedger(t testing.TB, l *ledger.Ledger) {
	if l.Err() == nil {
		if _, err := l.Verify(context.Background()); err != nil && l.Err() == nil {
			t.Errorf("Verify: %v", err)
		}
	}
	l.Close()
}

// record i: every third has no case, the others fall in 7 cases.
func record(i int, salt string) []byte {
	c := ""
	if i%3 != 0 {
		c = fmt.Sprintf(`"case_id":"0193f09e-1111-7000-8000-%012d",`, i%7)
	}
	typ := []string{"inspection.recorded", "evidence.preservation_resolved", "recording.made"}[i%3]
	id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", salt, i))
	return fmt.Appendf(nil, `{"id":"%s","type":"%s",%s"occurred_at":"2026-05-12T09:31:02+08:00","device":{"id":"ZFY-%d","seq":%d},"data":{"n":%d,"s":"%s"}}`,
		id, typ, c, i%5, i, i, salt)
}

// appendRange appends records [from, to) in batches of batch.
func appendRange(t testing.TB, l *ledger.Ledger, from, to, batch int, salt string) {
	t.Helper()
	for i := from; i < to; i += batch {
		var raws [][]byte
		for j := i; j < min(i+batch, to); j++ {
			raws = append(raws, record(j, salt))
		}
		res, err := l.Append(context.Background(), raws)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		for _, r := range res {
			if r.Status != ledger.Accepted {
				t.Fatalf("Append = %v, want Accepted", r)
			}
		}
	}
}

// embedded starts an in-process JetStream server with the streams, as
// `liuhen serve` does (natsrv.Start).
func embedded(t testing.TB) *nats.Conn {
	t.Helper()
	n, err := natsrv.Start(context.Background(), natsrv.Config{
		Embed:  natsrv.EmbedConfig{StoreDir: t.TempDir()},
		Layout: natsrv.NewLayout(testOrigin),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n.Conn
}

func ensure(t testing.TB, nc *nats.Conn, replicas int) {
	t.Helper()
	js, _ := jetstream.New(nc)
	// Without a deadline each JetStream request waits 5 s, which creating
	// a replicated stream can exceed on a busy machine (the race detector,
	// the other packages' tests).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := natsrv.EnsureStreams(ctx, js, natsrv.NewLayout(testOrigin), replicas); err != nil {
		t.Fatal(err)
	}
}

// running is a relay running in the background.
type running struct {
	*Relay
	cancel context.CancelFunc
	done   chan error
}

// start runs a relay until stop or cleanup.
func start(t testing.TB, l *ledger.Ledger, nc *nats.Conn, setup func(*Relay)) *running {
	t.Helper()
	r, err := New(l, nc, Config{Logger: quiet, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, AckTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Relay: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop stops the relay and returns what Run returned.
func (r *running) stop(t testing.TB) error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // stop may be called again
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("relay did not stop")
		return nil
	}
}

// result waits for Run to return by itself.
func (r *running) result(t testing.TB) error {
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return; status %+v", r.Status())
		return nil
	}
}

// caughtUp waits until the relay has published the whole ledger.
func caughtUp(t testing.TB, r *running, l *ledger.Ledger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- r.Wait(ctx, l.Head().Size) }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("relay at %+v, ledger at %d: %v", r.Status(), l.Head().Size, err)
		}
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run() = %v before catching up; status %+v", err, r.Status())
	}
}

// streamEqualsLedger checks that the events stream holds exactly the
// ledger's entries, in order, with the right subjects and headers. Reading
// is retried while a cluster elects leaders; a difference fails at once.
func streamEqualsLedger(t testing.TB, nc *nats.Conn, l *ledger.Ledger) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := compareStream(t, nc, l)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		t.Logf("reading the stream: %v; retrying", err)
		time.Sleep(100 * time.Millisecond)
	}
}

func compareStream(t testing.TB, nc *nats.Conn, l *ledger.Ledger) error {
	t.Helper()
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	lay := natsrv.NewLayout(testOrigin)
	s, err := js.Stream(ctx, lay.Events)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	size := l.Head().Size
	if info.State.Msgs != size || info.State.LastSeq != size {
		t.Fatalf("stream holds %d messages up to %d, the ledger %d entries", info.State.Msgs, info.State.LastSeq, size)
	}
	if size == 0 {
		return nil
	}
	for seq, want := range l.Entries(0) {
		m, err := s.GetMsg(ctx, seq+1)
		if err != nil {
			return fmt.Errorf("reading stream sequence %d: %v", seq+1, err)
		}
		if !bytes.Equal(m.Data, want) {
			t.Fatalf("stream sequence %d = %q, want entry %d = %q", m.Sequence, m.Data, seq, want)
		}
		e, _ := ledger.DecodeEntry(want)
		h := m.Header
		caseHdr := ""
		if e.CaseID != uuid.Nil {
			caseHdr = e.CaseID.String()
		}
		if got := m.Subject; got != lay.EventSubject(e.Type, e.CaseID) {
			t.Fatalf("entry %d subject %q, want %q", seq, got, lay.EventSubject(e.Type, e.CaseID))
		}
		if h.Get(jetstream.MsgIDHeader) != "" || h.Get(natsrv.HeaderSeq) != fmt.Sprint(seq) ||
			h.Get(natsrv.HeaderLeafHash) != ledger.Hex(e.Hash()) || h.Get(natsrv.HeaderType) != e.Type ||
			h.Get(natsrv.HeaderDevice) != e.DeviceID || h.Get(natsrv.HeaderCase) != caseHdr {
			t.Fatalf("entry %d headers %v", seq, h)
		}
	}
	return nil
}
