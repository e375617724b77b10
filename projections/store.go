package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/internal/pebblestats"
)

// A Store is one Pebble database holding the read models of a group of
// projections, fed by one consumer. Readers take a Snapshot; Run feeds the
// store and swaps in rebuilt builds.
//
// On disk, Dir/<store>/ holds build directories b000001, b000002, … and a
// file CURRENT naming the build that serves. Each build records the versions
// it was built with under rt/meta.
type Store struct {
	rt      *Runtime
	name    string
	projs   []Projection
	want    map[string]int // projection versions this binary builds
	dir     string
	rebuild chan struct{} // Rebuild requests, to the Run goroutine

	mu       sync.RWMutex
	cur      *build        // the serving build; guarded by mu
	next     *build        // the build in progress, nil if none; guarded by mu
	curCons  Consumer      // consumer of cur while Run runs; guarded by mu
	nextCons Consumer      // consumer of next while Run runs; guarded by mu
	changed  chan struct{} // closed when curCons changes; guarded by mu
}

type build struct {
	name    string // directory name, b000001
	db      *pebble.DB
	meta    buildMeta
	readers sync.WaitGroup // open snapshots
}

type buildMeta struct {
	Store    string         `json:"store"`
	Versions map[string]int `json:"versions"`
}

var keyMeta = []byte("rt/meta")

func openStore(rt *Runtime, name string, projs []Projection) (*Store, error) {
	s := &Store{
		rt:      rt,
		name:    name,
		projs:   projs,
		want:    map[string]int{},
		dir:     filepath.Join(rt.cfg.Dir, name),
		rebuild: make(chan struct{}, 1),
		changed: make(chan struct{}),
	}
	for _, p := range projs {
		s.want[p.Name()] = p.Version()
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	builds, err := s.listBuilds()
	if err != nil {
		return nil, err
	}
	curName, err := s.readCurrent()
	if err != nil {
		return nil, err
	}
	if curName != "" {
		if s.cur, err = s.openBuild(curName, false); err != nil {
			return nil, err
		}
		if !maps.Equal(s.cur.meta.Versions, s.want) {
			rt.cfg.Logger.Info("projections: versions changed; rebuilding while the old build serves",
				"store", name, "old", s.cur.meta.Versions, "new", s.want)
			// Resume a build already under way for these versions.
			for _, b := range builds {
				if b == curName || s.next != nil {
					continue
				}
				nb, err := s.openBuild(b, false)
				if err != nil {
					return nil, err
				}
				if maps.Equal(nb.meta.Versions, s.want) {
					s.next = nb
				} else {
					nb.db.Close()
				}
			}
			if s.next == nil {
				if s.next, err = s.newBuild(builds); err != nil {
					return nil, err
				}
			}
		}
	} else {
		if s.cur, err = s.newBuild(builds); err != nil {
			return nil, err
		}
		if err := s.writeCurrent(s.cur.name); err != nil {
			return nil, err
		}
	}
	// Remove abandoned builds: neither serving nor in progress.
	for _, b := range builds {
		if b != s.cur.name && (s.next == nil || b != s.next.name) {
			if err := os.RemoveAll(filepath.Join(s.dir, b)); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Store) listBuilds() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "b") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *Store) readCurrent() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "CURRENT"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if _, err := os.Stat(filepath.Join(s.dir, name)); err != nil {
		return "", fmt.Errorf("projections: store %s: CURRENT names %q: %v", s.name, name, err)
	}
	return name, nil
}

// writeCurrent replaces CURRENT atomically and durably.
func (s *Store) writeCurrent(name string) error {
	return durable.WriteFile(filepath.Join(s.dir, "CURRENT"), []byte(name+"\n"), 0o644)
}

func (s *Store) pebbleOptions() *pebble.Options {
	o := &pebble.Options{
		// Pebble reserves the memory of its memtables inside the block
		// cache; without room for two on top, the cache holds no blocks.
		CacheSize:          s.rt.cfg.CacheSize + 2*s.rt.cfg.MemTableSize,
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       uint64(s.rt.cfg.MemTableSize),
		Logger:             quietLogger{s.rt.cfg.Logger},
	}
	// Applying an entry reads keys that are often absent (a case's first
	// entry): bloom filters answer those without reading blocks.
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// Blocks are compressed with MinLZ (Snappy's successor, faster on
	// amd64), except in L0: a memtable flush, most of the CPU of writing a
	// read model, then writes them as they are, and they are compressed
	// once, when a compaction moves them down.
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionFastest })
	o.Levels[0].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
	return o
}

func (s *Store) openBuild(name string, create bool) (*build, error) {
	o := s.pebbleOptions()
	o.ErrorIfNotExists = !create
	o.ErrorIfExists = create
	db, err := pebble.Open(filepath.Join(s.dir, name), o)
	if err != nil {
		return nil, fmt.Errorf("projections: store %s: %w", s.name, err)
	}
	b := &build{name: name, db: db}
	if create {
		b.meta = buildMeta{Store: s.name, Versions: maps.Clone(s.want)}
		v, _ := json.Marshal(b.meta)
		if err := db.Set(keyMeta, v, pebble.Sync); err != nil {
			db.Close()
			return nil, err
		}
		return b, nil
	}
	v, err := getCopy(db, keyMeta)
	if err == nil && v == nil {
		err = errors.New("no rt/meta")
	}
	if err == nil {
		err = json.Unmarshal(v, &b.meta)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("projections: store %s build %s: %v", s.name, name, err)
	}
	return b, nil
}

// newBuild creates an empty build named after the highest existing one.
func (s *Store) newBuild(existing []string) (*build, error) {
	n := 0
	for _, b := range existing {
		var k int
		if _, err := fmt.Sscanf(b, "b%06d", &k); err == nil && k > n {
			n = k
		}
	}
	for _, b := range []*build{s.cur, s.next} {
		var k int
		if b != nil {
			if _, err := fmt.Sscanf(b.name, "b%06d", &k); err == nil && k > n {
				n = k
			}
		}
	}
	return s.openBuild(fmt.Sprintf("b%06d", n+1), true)
}

// Name returns the store's name.
func (s *Store) Name() string { return s.name }

// Status describes a store for operators and the console.
type Status struct {
	Store    string         `json:"store"`
	Build    string         `json:"build"`              // serving build
	Versions map[string]int `json:"versions"`           // of the serving build
	Size     uint64         `json:"size"`               // entries the serving build reflects
	Building string         `json:"building,omitempty"` // build in progress
	Progress uint64         `json:"progress,omitempty"` // entries the build in progress has applied
}

// Status returns the store's current status.
func (s *Store) Status() (Status, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Status{Store: s.name, Build: s.cur.name, Versions: maps.Clone(s.cur.meta.Versions)}
	size, err := sizeOf(s.cur.db)
	if err != nil {
		return st, err
	}
	st.Size = size
	if s.next != nil {
		st.Building = s.next.name
		st.Progress, err = sizeOf(s.next.db)
	}
	return st, err
}

// A Snapshot is a consistent, read-only view of a store's serving build.
// Close it promptly: a swap waits for open snapshots.
type Snapshot struct {
	snap *pebble.Snapshot
	b    *build
	// Size is the number of ledger entries the view reflects.
	Size uint64
	once sync.Once
}

// Snapshot returns a view of the serving build.
func (s *Store) Snapshot() (*Snapshot, error) {
	s.mu.RLock()
	b := s.cur
	b.readers.Add(1)
	s.mu.RUnlock()
	snap := b.db.NewSnapshot()
	size, err := sizeOf(snap)
	if err != nil {
		snap.Close()
		b.readers.Done()
		return nil, err
	}
	return &Snapshot{snap: snap, b: b, Size: size}, nil
}

// Compact flushes the serving build's memtables to disk and compacts all
// of its data: for maintenance, and for tests that need now what Pebble
// otherwise does in its own time (writes meeting their deletions). Closing
// the store, or swapping in a rebuilt build, waits for it to end.
func (s *Store) Compact(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := s.cur
	if b == nil || b.db == nil {
		return fmt.Errorf("projections: store %s is closed", s.name)
	}
	if err := b.db.Flush(); err != nil {
		return err
	}
	// Every key of a store begins with a printable prefix: [0x00, 0xff…)
	// holds them all.
	return b.db.Compact(ctx, []byte{0}, bytes.Repeat([]byte{0xff}, 64), true)
}

// StorageStats returns the figures of the serving build's Pebble database;
// ok is false once the store is closed.
func (s *Store) StorageStats() (st pebblestats.Stats, ok bool) {
	s.mu.RLock() // close waits: it closes the database
	defer s.mu.RUnlock()
	if s.cur == nil || s.cur.db == nil {
		return st, false
	}
	return pebblestats.Of(s.cur.db), true
}

// Get returns a copy of the value of key, or nil if it is absent.
func (sn *Snapshot) Get(key []byte) ([]byte, error) { return getCopy(sn.snap, key) }

// NewIter returns an iterator over the view.
func (sn *Snapshot) NewIter(o *pebble.IterOptions) (*pebble.Iterator, error) {
	return sn.snap.NewIter(o)
}

// Close releases the view.
func (sn *Snapshot) Close() {
	sn.once.Do(func() {
		sn.snap.Close()
		sn.b.readers.Done()
	})
}

type running struct {
	b      *build
	c      Consumer
	cancel context.CancelFunc
	done   chan error
	caught chan error // nil for the serving build
}

func (s *Store) start(ctx context.Context, b *build, catchUp bool) (*running, error) {
	h := newStoreHandler(b.db, s.projs)
	c, err := s.rt.cfg.Consume(b.db, s.name+"_"+b.name, h)
	if err != nil {
		h.close()
		return nil, fmt.Errorf("projections: store %s: %w", s.name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &running{b: b, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := c.Run(ctx)
		h.close()
		r.done <- err
	}()
	if catchUp {
		r.caught = make(chan error, 1)
		go func() {
			size, err := s.rt.cfg.Size(ctx)
			if err == nil {
				err = c.Caught(ctx, size)
			}
			r.caught <- err
		}()
	}
	return r, nil
}

// stop stops the consumer and waits for it.
func (r *running) stop() error {
	r.cancel()
	err := <-r.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// Run feeds the store until ctx is done or its consumer fails, building and
// swapping in new builds when versions changed or Rebuild was called.
func (s *Store) Run(ctx context.Context) error {
	cur, err := s.start(ctx, s.cur, false)
	if err != nil {
		return err
	}
	var next *running
	defer func() {
		if next != nil {
			next.stop()
		}
		cur.stop()
	}()
	startNext := func(b *build) error {
		r, err := s.start(ctx, b, true)
		if err != nil {
			return err
		}
		next = r
		s.mu.Lock()
		s.next, s.nextCons = b, r.c
		s.mu.Unlock()
		return nil
	}
	s.mu.Lock()
	s.setCurCons(cur.c)
	pending := s.next
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.setCurCons(nil)
		s.mu.Unlock()
	}()
	if pending != nil {
		if err := startNext(pending); err != nil {
			return err
		}
	}
	for {
		var nextDone, caught chan error
		if next != nil {
			nextDone, caught = next.done, next.caught
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-cur.done:
			cur.done <- err // for the deferred stop
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("projections: store %s: consumer: %w", s.name, err)
		case err := <-nextDone:
			next.done <- err
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("projections: store %s: rebuild: %w", s.name, err)
		case err := <-caught:
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("projections: store %s: rebuild: %w", s.name, err)
			}
			if err := cur.stop(); err != nil {
				return err
			}
			if err := s.swap(next.b, next.c); err != nil {
				return err
			}
			next.caught = nil
			cur, next = next, nil
		case <-s.rebuild:
			if next != nil {
				if err := next.stop(); err != nil {
					return err
				}
				s.drop(next.b)
				next = nil
			}
			builds, err := s.listBuilds()
			if err != nil {
				return err
			}
			b, err := s.newBuild(builds)
			if err != nil {
				return err
			}
			if err := startNext(b); err != nil {
				return err
			}
		}
	}
}

// swap makes nb the serving build and removes the old one once its readers
// are done.
func (s *Store) swap(nb *build, c Consumer) error {
	if err := s.writeCurrent(nb.name); err != nil {
		return err
	}
	s.mu.Lock()
	old := s.cur
	s.cur = nb
	s.setCurCons(c)
	s.next, s.nextCons = nil, nil
	s.mu.Unlock()
	s.rt.cfg.Logger.Info("projections: swapped in new build", "store", s.name, "build", nb.name, "old", old.name)
	s.drop(old)
	return nil
}

func (s *Store) drop(b *build) {
	s.mu.Lock()
	if s.next == b {
		s.next, s.nextCons = nil, nil
	}
	s.mu.Unlock()
	b.readers.Wait()
	if err := b.db.Close(); err != nil {
		s.rt.cfg.Logger.Warn("projections: closing old build", "store", s.name, "build", b.name, "err", err)
	}
	if err := os.RemoveAll(filepath.Join(s.dir, b.name)); err != nil {
		s.rt.cfg.Logger.Warn("projections: removing old build", "store", s.name, "build", b.name, "err", err)
	}
}

func (s *Store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range []*build{s.cur, s.next} {
		if b != nil && b.db != nil {
			errs = append(errs, b.db.Close())
			b.db = nil
		}
	}
	return errors.Join(errs...)
}

// Drop deletes a store's builds under dir, so that the next start rebuilds
// it from the start of the stream (liuhen project rebuild NAME, offline).
// It refuses while a process (this one included) has one of the builds
// open, and says so; a store that does not exist is an error wrapping
// os.ErrNotExist.
func Drop(dir, store string) error {
	if !validName(store) {
		return fmt.Errorf("projections: bad store name %q", store)
	}
	sdir := filepath.Join(dir, store)
	ents, err := os.ReadDir(sdir)
	if err != nil {
		return fmt.Errorf("projections: store %s: %w", store, err)
	}
	var locks []*pebble.Lock
	defer func() {
		for _, l := range locks {
			l.Close()
		}
	}()
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		l, err := pebble.LockDirectory(filepath.Join(sdir, e.Name()), vfs.Default)
		if err != nil {
			return fmt.Errorf("projections: store %s is in use (stop the process that has it open, or rebuild it online): %v", store, err)
		}
		locks = append(locks, l)
	}
	return os.RemoveAll(sdir)
}

type quietLogger struct {
	l interface{ Info(string, ...any) }
}

func (q quietLogger) Infof(format string, args ...any) {}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Info("pebble: " + fmt.Sprintf(format, args...))
}
func (q quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// A Source gives read access to a store's serving build. *Store is one.
type Source interface {
	Snapshot() (*Snapshot, error)
}

// PrefixEnd returns the smallest key greater than every key with prefix p,
// for an iterator's UpperBound.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// setCurCons sets the serving consumer and wakes Wait. s.mu must be held.
func (s *Store) setCurCons(c Consumer) {
	s.curCons = c
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wait returns once the serving build reflects at least size ledger
// entries, or when ctx is done. It follows swaps; Run must be running for
// it to make progress.
func (s *Store) Wait(ctx context.Context, size uint64) error {
	for {
		sn, err := s.Snapshot()
		if err != nil {
			return err
		}
		n := sn.Size
		sn.Close()
		if n >= size {
			return nil
		}
		s.mu.RLock()
		c, ch := s.curCons, s.changed
		s.mu.RUnlock()
		if c == nil {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-ch:
				cancel()
			case <-cctx.Done():
			}
		}()
		c.Caught(cctx, size) // its error is ctx's, or a swap; both are checked below
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Changed returns a channel closed the next time the serving build or its
// consumer changes (Run starting or stopping, a swap).
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}
