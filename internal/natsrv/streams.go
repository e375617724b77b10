package natsrv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrForeignStream is returned by EnsureStreams when a stream of the
// layout's name exists but belongs to another ledger or has other subjects.
var ErrForeignStream = errors.New("natsrv: stream belongs to another ledger")

// StreamOptions are the settings of the layout's streams besides names.
type StreamOptions struct {
	// Replicas is the streams' replica count. 0 means 1.
	Replicas int
	// AsyncPersist makes an R1 events stream acknowledge a message before
	// its file store has written it (JetStream's PersistMode "async"), so
	// that the server writes messages in batches instead of making one
	// write system call per message. A crash of the server's process then
	// loses the acknowledged messages not yet written, as a crash of the
	// machine already loses those not yet fsynced; the relay finds the
	// stream behind its cursor and publishes them again from the ledger.
	// It is ignored for replicated streams, which JetStream refuses it for,
	// and it overrides the server's SyncAlways for the events stream, so
	// Start sets it only for an embedded server without SyncAlways.
	AsyncPersist bool
}

// StreamConfigs is StreamConfigsWith without AsyncPersist.
func StreamConfigs(l Layout, replicas int) (events, checkpoints jetstream.StreamConfig) {
	return StreamConfigsWith(l, StreamOptions{Replicas: replicas})
}

// StreamConfigsWith returns the configuration of the layout's events and
// checkpoints streams.
//
// Both keep everything forever: limits retention with no limit at all,
// DiscardNew so that a limit added later refuses new messages instead of
// silently dropping history, and DenyDelete and DenyPurge. The events
// stream allows direct gets for fast reads by seq.
func StreamConfigsWith(l Layout, o StreamOptions) (events, checkpoints jetstream.StreamConfig) {
	l.setDefaults()
	replicas := o.Replicas
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
	if o.AsyncPersist && replicas == 1 {
		events.PersistMode = jetstream.AsyncPersistMode
	}
	checkpoints.Name = l.Checkpoints
	checkpoints.Description = "liuhen signed checkpoints of " + l.Origin
	checkpoints.Subjects = []string{l.CheckpointSubject()}
	checkpoints.Metadata = map[string]string{metaOrigin: l.Origin}
	return events, checkpoints
}

// EnsureStreams is EnsureStreamsWith without AsyncPersist.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l Layout, replicas int) error {
	return EnsureStreamsWith(ctx, js, l, StreamOptions{Replicas: replicas})
}

// EnsureStreamsWith creates the layout's streams, or updates them to the
// configuration of StreamConfigsWith (a changed replica count, for
// example). An existing events stream keeps its persist mode, which
// JetStream cannot change: it is an error to ask for the default mode of a
// stream created with AsyncPersist. It refuses, with ErrForeignStream, a stream of the same name
// that records another origin or other subjects: updating it would graft
// this ledger onto another's history.
func EnsureStreamsWith(ctx context.Context, js jetstream.JetStream, l Layout, o StreamOptions) error {
	if err := l.Validate(); err != nil {
		return err
	}
	ev, cp := StreamConfigsWith(l, o)
	for _, cfg := range []jetstream.StreamConfig{ev, cp} {
		if err := retryAPI(ctx, func(ctx context.Context) error { return ensureStream(ctx, js, l, cfg) }); err != nil {
			return err
		}
	}
	return nil
}

// apiAttempt bounds one attempt of EnsureStreams. A JetStream API request
// that a cluster loses (its meta leader changing while the cluster forms,
// a busy node) is never answered: rather than wait out the caller's whole
// deadline for it, the request is sent again. Creating or updating a
// stream to the same configuration twice is harmless.
const apiAttempt = 10 * time.Second

// retryAPI calls f until it succeeds, fails with an error that asking
// again will not change, or ctx is done; each call gets at most
// apiAttempt.
func retryAPI(ctx context.Context, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, apiAttempt)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// unanswered reports whether err says that a request went unanswered or
// found the cluster not ready, rather than that it was refused.
func unanswered(err error) bool {
	var ae *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.As(err, &ae) && ae.Code == 503
}

// ensureStream creates the stream cfg or brings it to cfg (see
// EnsureStreamsWith).
func ensureStream(ctx context.Context, js jetstream.JetStream, l Layout, cfg jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, cfg.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natsrv: create stream %s: %w", cfg.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("natsrv: stream %s: %w", cfg.Name, err)
	}
	have := s.CachedInfo().Config
	if o := have.Metadata[metaOrigin]; o != l.Origin || !slices.Equal(have.Subjects, cfg.Subjects) {
		return fmt.Errorf("%w: %s holds origin %q on %v, want %q on %v", ErrForeignStream, cfg.Name, o, have.Subjects, l.Origin, cfg.Subjects)
	}
	// JetStream cannot change a stream's persist mode. A stream created
	// without AsyncPersist keeps writing each message before its ack;
	// one created with it cannot go back.
	if have.PersistMode != cfg.PersistMode {
		if have.PersistMode == jetstream.AsyncPersistMode {
			return fmt.Errorf("natsrv: stream %s acknowledges messages before writing them (persist mode async), and JetStream cannot change that to what is asked now (SyncAlways, or replicas); delete the stream, or the embedded server's store directory, and start again: the relay publishes the ledger again", cfg.Name)
		}
		cfg.PersistMode = have.PersistMode
	}
	// Keep metadata the server added (its own "_nats." keys), in a copy:
	// cfg's map is shared with the next attempt.
	md := make(map[string]string, len(cfg.Metadata)+len(have.Metadata))
	for k, v := range have.Metadata {
		md[k] = v
	}
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	cfg.Metadata = md
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("natsrv: update stream %s: %w", cfg.Name, err)
	}
	return nil
}
