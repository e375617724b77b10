package natsrv

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrForeignStream is returned by EnsureStreams when a stream of the
// layout's name exists but belongs to another ledger or has other subjects.
var ErrForeignStream = errors.New("natsrv: stream belongs to another ledger")

// StreamConfigs returns the configuration of the layout's events and
// checkpoints streams with the given replica count (0 means 1).
//
// Both keep everything forever: limits retention with no limit at all,
// DiscardNew so that a limit added later refuses new messages instead of
// silently dropping history, and DenyDelete and DenyPurge. The events
// stream allows direct gets for fast reads by seq.
func StreamConfigs(l Layout, replicas int) (events, checkpoints jetstream.StreamConfig) {
	l.setDefaults()
	if replicas <= 0 {
		replicas = 1
	}
	base := jetstream.StreamConfig{
		Storage:           jetstream.FileStorage,
		Replicas:          replicas,
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardNew,
		MaxAge:            0,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		DenyDelete:        true,
		DenyPurge:         true,
		Metadata:          map[string]string{metaOrigin: l.Origin},
	}
	events, checkpoints = base, base
	events.Name = l.Events
	events.Description = "liuhen ledger entries of " + l.Origin + "; stream sequence = seq+1"
	events.Subjects = []string{l.EventsFilter()}
	events.AllowDirect = true
	checkpoints.Name = l.Checkpoints
	checkpoints.Description = "liuhen signed checkpoints of " + l.Origin
	checkpoints.Subjects = []string{l.CheckpointSubject()}
	checkpoints.Metadata = map[string]string{metaOrigin: l.Origin}
	return events, checkpoints
}

// EnsureStreams creates the layout's streams, or updates them to the
// configuration of StreamConfigs (a changed replica count, for example).
// It refuses, with ErrForeignStream, a stream of the same name that
// records another origin or other subjects: updating it would graft this
// ledger onto another's history.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l Layout, replicas int) error {
	if err := l.Validate(); err != nil {
		return err
	}
	ev, cp := StreamConfigs(l, replicas)
	for _, cfg := range []jetstream.StreamConfig{ev, cp} {
		s, err := js.Stream(ctx, cfg.Name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			if _, err := js.CreateStream(ctx, cfg); err != nil {
				return fmt.Errorf("natsrv: create stream %s: %w", cfg.Name, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("natsrv: stream %s: %w", cfg.Name, err)
		}
		have := s.CachedInfo().Config
		if o := have.Metadata[metaOrigin]; o != l.Origin || !slices.Equal(have.Subjects, cfg.Subjects) {
			return fmt.Errorf("%w: %s holds origin %q on %v, want %q on %v", ErrForeignStream, cfg.Name, o, have.Subjects, l.Origin, cfg.Subjects)
		}
		// Keep metadata the server added (its own "_nats." keys).
		for k, v := range have.Metadata {
			if _, ok := cfg.Metadata[k]; !ok {
				cfg.Metadata[k] = v
			}
		}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natsrv: update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
