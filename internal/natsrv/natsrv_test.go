package natsrv_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/internal/natsrv/natstest"
)

func TestSubjects(t *testing.T) {
	l := natsrv.NewLayout("liuhen.example/jincheng-cgj")
	c := uuid.MustParse("0193f09e-1111-7000-8000-000000000042")
	for _, tc := range []struct {
		typ  string
		c    uuid.UUID
		want string
	}{
		{"inspection.recorded", c, "liuhen.liuhen_example_jincheng-cgj.events.inspection.recorded.0193f09e-1111-7000-8000-000000000042"},
		{"recording.made", uuid.Nil, "liuhen.liuhen_example_jincheng-cgj.events.recording.made.none"},
		{"evidence.preservation_resolved", c, "liuhen.liuhen_example_jincheng-cgj.events.evidence.preservation_resolved.0193f09e-1111-7000-8000-000000000042"},
		{"a.b.c", uuid.Nil, "liuhen.liuhen_example_jincheng-cgj.events.a.b-c.none"},
	} {
		if got := l.EventSubject(tc.typ, tc.c); got != tc.want {
			t.Errorf("EventSubject(%q, %v) = %q, want %q", tc.typ, tc.c, got, tc.want)
		}
	}
	if got, want := l.CheckpointSubject(), "liuhen.liuhen_example_jincheng-cgj.checkpoints"; got != want {
		t.Errorf("CheckpointSubject() = %q, want %q", got, want)
	}
	if err := (natsrv.Layout{Token: "a.b", Events: "X", Checkpoints: "X"}).Validate(); err == nil {
		t.Error("Validate() of a bad layout = nil")
	}
}

func TestStartEmbedded(t *testing.T) {
	ctx := t.Context()
	cfg := natsrv.Config{
		Embed:  natsrv.EmbedConfig{StoreDir: t.TempDir()},
		Layout: natsrv.NewLayout("liuhen.test/a"),
	}
	n, err := natsrv.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(n.Conn)
	s, err := js.Stream(ctx, "LIUHEN_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if !c.DenyDelete || !c.DenyPurge || c.MaxAge != 0 || c.Retention != jetstream.LimitsPolicy || c.Replicas != 1 {
		t.Errorf("events stream config = %+v", c)
	}
	if c.PersistMode != jetstream.AsyncPersistMode {
		t.Errorf("embedded events stream PersistMode = %v, want async", c.PersistMode)
	}
	cps, err := js.Stream(ctx, "LIUHEN_CHECKPOINTS")
	if err != nil {
		t.Fatal(err)
	}
	if m := cps.CachedInfo().Config.PersistMode; m != jetstream.DefaultPersistMode {
		t.Errorf("checkpoints stream PersistMode = %v, want default", m)
	}
	// Idempotent, and refuses another ledger's stream.
	if err := natsrv.EnsureStreamsWith(ctx, js, cfg.Layout, natsrv.StreamOptions{Replicas: 1, AsyncPersist: true}); err != nil {
		t.Errorf("EnsureStreams again = %v", err)
	}
	// JetStream cannot make the stream write before acknowledging again.
	if err := natsrv.EnsureStreams(ctx, js, cfg.Layout, 1); err == nil {
		t.Error("EnsureStreams(default persist mode) of an async stream = nil")
	}
	other := natsrv.NewLayout("liuhen.test/b")
	other.Token = cfg.Layout.Token
	if err := natsrv.EnsureStreams(ctx, js, other, 1); !errors.Is(err, natsrv.ErrForeignStream) {
		t.Errorf("EnsureStreams(other origin) = %v, want ErrForeignStream", err)
	}
	n.Close()
}

// TestStartSyncAlways: with SyncAlways the embedded events stream writes
// (and fsyncs) every message before acknowledging it.
func TestStartSyncAlways(t *testing.T) {
	n, err := natsrv.Start(t.Context(), natsrv.Config{
		Embed:  natsrv.EmbedConfig{StoreDir: t.TempDir(), SyncAlways: true},
		Layout: natsrv.NewLayout("liuhen.test/a"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	js, _ := jetstream.New(n.Conn)
	s, err := js.Stream(t.Context(), "LIUHEN_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if m := s.CachedInfo().Config.PersistMode; m != jetstream.DefaultPersistMode {
		t.Errorf("PersistMode with SyncAlways = %v, want default", m)
	}
	// A stream created before AsyncPersist keeps its mode.
	if err := natsrv.EnsureStreamsWith(t.Context(), js, natsrv.NewLayout("liuhen.test/a"), natsrv.StreamOptions{AsyncPersist: true}); err != nil {
		t.Fatalf("EnsureStreamsWith(AsyncPersist) of a default stream = %v", err)
	}
	if s, err = js.Stream(t.Context(), "LIUHEN_EVENTS"); err != nil {
		t.Fatal(err)
	}
	if m := s.CachedInfo().Config.PersistMode; m != jetstream.DefaultPersistMode {
		t.Errorf("PersistMode after EnsureStreamsWith(AsyncPersist) = %v, want default", m)
	}
}

func TestCluster(t *testing.T) {
	nodes := natstest.Cluster(t, 3)
	nc := natstest.Connect(t, natstest.URLs(nodes...))
	js, _ := jetstream.New(nc)
	if err := natsrv.EnsureStreams(t.Context(), js, natsrv.NewLayout("liuhen.test/r3"), 3); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(t.Context(), "LIUHEN_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if r := s.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("Replicas = %d, want 3", r)
	}
	// AsyncPersist does not apply to replicated streams (JetStream refuses it).
	if err := natsrv.EnsureStreamsWith(t.Context(), js, natsrv.NewLayout("liuhen.test/r3"), natsrv.StreamOptions{Replicas: 3, AsyncPersist: true}); err != nil {
		t.Fatalf("EnsureStreamsWith(R3, AsyncPersist) = %v", err)
	}
}
