package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/ledger"
	"golang.org/x/sync/errgroup"
)

// A Projection builds one read model from the ledger, under its own key
// prefix of its store. Apply must be deterministic: the same entries in the
// same order give the same writes, whatever the batching. It is called from
// one goroutine at a time.
type Projection interface {
	// Name is the projection's name, e.g. "casefile"; also its key prefix's
	// owner in docs/projections.md.
	Name() string
	// Version changes whenever Apply would write something different for
	// the same entries. A changed version rebuilds the store.
	Version() int
	// Apply applies one verified entry.
	Apply(ctx context.Context, tx *Tx, e *Entry) error
}

// Handler is the consumer's handler contract (package projections/consume,
// with its optional consume.Flusher): Apply applies one verified entry,
// writing only into b; Flush writes what the entries of the batch left in
// memory into b. A consumer calls Flush once per batch, after the batch's
// last Apply and before it commits b with its position. A consumer that
// commits without calling Flush loses writes; the store handler notices it
// at the next entry and fails.
type Handler interface {
	Apply(ctx context.Context, b *pebble.Batch, e *ledger.Entry) error
	Flush(ctx context.Context, b *pebble.Batch) error
}

// Consumer is what the runtime needs of a consumer (package
// projections/consume). Run feeds verified entries to the handler in seq
// order and commits its position in the same batch; Position is the number
// of entries applied; Caught returns once Position ≥ size.
type Consumer interface {
	Run(ctx context.Context) error
	Position() uint64
	Caught(ctx context.Context, size uint64) error
}

// ConsumeFunc makes a consumer that feeds db through h, under the durable
// consumer name name. In liuhen serve it wraps consume.New(js, db, name, h,
// opts).
type ConsumeFunc func(db *pebble.DB, name string, h Handler) (Consumer, error)

// Config configures a Runtime. The zero value of every optional field means
// its default.
type Config struct {
	// Dir holds the stores, each in Dir/<store>/. Required.
	Dir string
	// Consume makes consumers. Required.
	Consume ConsumeFunc
	// Size returns the ledger's current size (number of entries). A new
	// build replaces the old one once it has applied at least that many.
	// Required.
	Size func(ctx context.Context) (uint64, error)
	// CacheSize is each store's Pebble block cache, in bytes, on top of
	// the room Pebble reserves in it for memtables. Default 32 MiB.
	CacheSize int64
	// MemTableSize is each store's Pebble memtable size, in bytes. Default
	// 32 MiB. A smaller one saves memory and flushes more often.
	MemTableSize int64
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem with cfg.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Dir == "" {
		errs = append(errs, errors.New("projections: Config.Dir is required"))
	}
	if cfg.Consume == nil {
		errs = append(errs, errors.New("projections: Config.Consume is required"))
	}
	if cfg.Size == nil {
		errs = append(errs, errors.New("projections: Config.Size is required"))
	}
	if cfg.CacheSize < 0 {
		errs = append(errs, errors.New("projections: Config.CacheSize is negative"))
	}
	if cfg.MemTableSize < 0 {
		errs = append(errs, errors.New("projections: Config.MemTableSize is negative"))
	}
	return errors.Join(errs...)
}

// ErrUnknown is returned for a store or projection name the runtime does not
// have.
var ErrUnknown = errors.New("projections: no such projection")

// A Runtime runs stores of projections, each fed by its own consumer.
//
// Each store is one Pebble database with one consumer; all its projections
// apply every entry in the same batch, so they always reflect the same
// ledger size, and the entry is decoded once for all of them. Stores are
// versioned by their projections' versions: when one changes, Register
// keeps the old build serving and Run builds a new one from the start of
// the stream in a fresh directory, then swaps it in once it has caught up
// with the ledger.
type Runtime struct {
	cfg Config

	mu     sync.Mutex
	stores []*Store // guarded by mu
}

// New returns a runtime with no stores.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 32 << 20
	}
	if cfg.MemTableSize == 0 {
		cfg.MemTableSize = 32 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runtime{cfg: cfg}, nil
}

// Register opens (or creates) the store name holding projs. It must be
// called before Run. Store and projection names must be unique.
func (rt *Runtime) Register(name string, projs ...Projection) (*Store, error) {
	if !validName(name) {
		return nil, fmt.Errorf("projections: bad store name %q", name)
	}
	if len(projs) == 0 {
		return nil, fmt.Errorf("projections: store %s has no projections", name)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	seen := map[string]bool{}
	for _, s := range rt.stores {
		seen[s.name] = true
		for _, p := range s.projs {
			seen[p.Name()] = true
		}
	}
	if seen[name] {
		return nil, fmt.Errorf("projections: name %s registered twice", name)
	}
	for _, p := range projs {
		if seen[p.Name()] || !validName(p.Name()) {
			return nil, fmt.Errorf("projections: bad or duplicate projection name %q", p.Name())
		}
		seen[p.Name()] = true
	}
	s, err := openStore(rt, name, slices.Clone(projs))
	if err != nil {
		return nil, err
	}
	rt.stores = append(rt.stores, s)
	return s, nil
}

// Run runs every store until ctx is done or one fails. It returns nil when
// ctx ends.
func (rt *Runtime) Run(ctx context.Context) error {
	rt.mu.Lock()
	stores := slices.Clone(rt.stores)
	rt.mu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range stores {
		g.Go(func() error { return s.Run(ctx) })
	}
	return g.Wait()
}

// Rebuild starts rebuilding the store named name (or the store holding the
// projection named name) from the start of the stream. The current build
// keeps serving until the new one has caught up. It returns once the
// request is queued; Store.Status shows progress.
func (rt *Runtime) Rebuild(name string) error {
	s, err := rt.Store(name)
	if err != nil {
		return err
	}
	select {
	case s.rebuild <- struct{}{}:
	default: // a request is already queued
	}
	return nil
}

// Store returns the store named name or holding the projection named name.
func (rt *Runtime) Store(name string) (*Store, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, s := range rt.stores {
		if s.name == name {
			return s, nil
		}
		for _, p := range s.projs {
			if p.Name() == name {
				return s, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknown, name)
}

// Close closes every store. Run must have returned.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var errs []error
	for _, s := range rt.stores {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
