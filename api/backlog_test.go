package api

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBacklog is a relay whose backlog the test sets; every change closes
// the channel handed out before it, as the relay's does when it publishes.
type fakeBacklog struct {
	mu         sync.Mutex
	entries    uint64
	publishing bool
	moved      chan struct{}
	asked      chan struct{} // receives after each Backlog call
}

func newFakeBacklog(entries uint64, publishing bool) *fakeBacklog {
	return &fakeBacklog{entries: entries, publishing: publishing, moved: make(chan struct{}), asked: make(chan struct{}, 100)}
}

func (b *fakeBacklog) Backlog() (uint64, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.asked <- struct{}{}:
	default:
	}
	return b.entries, b.publishing, b.moved
}

func (b *fakeBacklog) set(entries uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries = entries
	close(b.moved)
	b.moved = make(chan struct{})
}

func (b *fakeBacklog) disconnect() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.publishing = false
	close(b.moved)
	b.moved = make(chan struct{})
}

// TestHoldBack: POST /v1/events waits while the publisher is connected and
// too far behind, goes on when the backlog shrinks or BacklogWait passes,
// and never waits for a publisher that is not publishing.
func TestHoldBack(t *testing.T) {
	body := func(i int) string {
		return rec("inspection.recorded", "ZFY-1", map[string]any{"device": map[string]any{"id": "ZFY-1", "seq": i}})
	}
	t.Run("until the backlog shrinks", func(t *testing.T) {
		b := newFakeBacklog(30_000, true)
		f := newFixture(t, func(c *Config) { c.Backlog, c.MaxPublishBacklog, c.BacklogWait = b, 20_000, time.Hour })
		done := make(chan []Result)
		go func() { done <- results(t, f.post("device", body(1))) }()
		<-b.asked // held: asked once, over the limit, and waiting
		b.set(25_000)
		<-b.asked // asked again, still over: waits on
		if n := f.l.Head().Size; n != 0 {
			t.Fatalf("a held request was appended: size %d", n)
		}
		select {
		case r := <-done:
			t.Fatalf("answered while the backlog was over the limit: %+v", r)
		default:
		}
		b.set(20_000)
		if r := <-done; len(r) != 1 || r[0].Status != StatusAccepted {
			t.Fatalf("after the backlog shrank: %+v", r)
		}
		if n := f.l.Head().Size; n != 1 {
			t.Errorf("size %d, want 1", n)
		}
		w := f.do(req{method: "GET", path: "/metrics"})
		if !strings.Contains(w.Body.String(), "liuhen_ingest_held_seconds_count 1") {
			t.Errorf("/metrics does not count the held request")
		}
	})

	t.Run("until the publisher stops publishing", func(t *testing.T) {
		b := newFakeBacklog(30_000, true)
		f := newFixture(t, func(c *Config) { c.Backlog, c.BacklogWait = b, time.Hour })
		done := make(chan []Result)
		go func() { done <- results(t, f.post("device", body(1))) }()
		<-b.asked
		b.disconnect()
		if r := <-done; len(r) != 1 || r[0].Status != StatusAccepted {
			t.Fatalf("after the publisher disconnected: %+v", r)
		}
	})

	t.Run("at most BacklogWait", func(t *testing.T) {
		b := newFakeBacklog(1_000_000, true)
		f := newFixture(t, func(c *Config) { c.Backlog, c.BacklogWait = b, time.Millisecond })
		if r := results(t, f.post("device", body(1))); len(r) != 1 || r[0].Status != StatusAccepted {
			t.Fatalf("after BacklogWait: %+v", r)
		}
		if len(b.asked) != 1 {
			t.Errorf("Backlog asked %d times, want 1", len(b.asked))
		}
	})

	t.Run("not for a publisher that is not publishing", func(t *testing.T) {
		b := newFakeBacklog(1_000_000, false)
		f := newFixture(t, func(c *Config) { c.Backlog, c.BacklogWait = b, time.Hour })
		if r := results(t, f.post("device", body(1))); len(r) != 1 || r[0].Status != StatusAccepted {
			t.Fatalf("with the publisher disconnected: %+v", r)
		}
		w := f.do(req{method: "GET", path: "/metrics"})
		if strings.Contains(w.Body.String(), "liuhen_ingest_held_seconds_count 1") {
			t.Errorf("a request was held for a disconnected publisher")
		}
	})

	t.Run("not under the limit", func(t *testing.T) {
		b := newFakeBacklog(20_000, true)
		f := newFixture(t, func(c *Config) { c.Backlog, c.BacklogWait = b, time.Hour })
		if r := results(t, f.post("device", body(1))); len(r) != 1 || r[0].Status != StatusAccepted {
			t.Fatalf("at the limit: %+v", r)
		}
	})
}
