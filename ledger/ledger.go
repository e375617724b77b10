package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Config configures Create and Open. The zero value of every optional field
// means its default.
type Config struct {
	// Dir is the ledger's Pebble directory. Required.
	Dir string
	// Origin is the log's identity in its checkpoints, e.g.
	// "liuhen.example/jincheng-cgj". Required by Create and stored; Open
	// checks it if set.
	Origin string
	// Signer signs checkpoints. Required. Its key name must equal Origin.
	Signer *Signer
	// FS is the filesystem Pebble runs on. Default vfs.Default; tests use
	// vfs.NewCrashableMem and errorfs.
	FS vfs.FS
	// MaxBatch is the most records one group commit takes. Default 4096.
	MaxBatch int
	// CaseCache is how many case heads the sequencer keeps in memory.
	// Default 65536. Memory is bounded by it, not by the number of cases.
	CaseCache int
	// CheckpointInterval is the least time between two signed checkpoints.
	// A head that moves after a quiet spell is signed at once; under load,
	// at most once per interval. Default (0) DefaultCheckpointInterval; a
	// negative value signs after every commit, as soon as the previous
	// checkpoint is stored (under load commits coalesce, but that is still
	// an Ed25519 signature and a synced write per fsync of the WAL).
	CheckpointInterval time.Duration
	// CacheSize is Pebble's block cache in bytes, on top of the memory
	// Pebble reserves in its cache for memtables. Default 128 MiB.
	CacheSize int64
	// Now is the clock for recorded_at. Default time.Now.
	Now func() time.Time
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
	// ReadOnly opens the ledger to read and verify it only, as an auditor
	// or a backup check does with a copy or a stopped server's directory:
	// no signing key is needed (Signer may be nil), nothing is written to
	// the directory (but for Pebble's empty LOCK file, if it is missing),
	// not even a checkpoint for a head whose last one was lost, and every
	// append or other write fails with ErrReadOnly. Pebble's lock still
	// keeps out a running server. Create refuses it.
	ReadOnly bool
}

func (c *Config) validate(creating bool) error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("ledger: Config.Dir is required"))
	}
	if c.Signer == nil && !c.ReadOnly {
		errs = append(errs, errors.New("ledger: Config.Signer is required"))
	}
	if creating && c.ReadOnly {
		errs = append(errs, errors.New("ledger: Create cannot be read-only"))
	}
	if creating || c.Origin != "" {
		if err := checkOrigin(c.Origin); err != nil {
			errs = append(errs, err)
		} else if c.Signer != nil && c.Signer.Name() != c.Origin {
			errs = append(errs, fmt.Errorf("ledger: signing key is named %q, want the origin %q", c.Signer.Name(), c.Origin))
		}
	}
	if c.MaxBatch < 0 || c.CaseCache < 0 || c.CacheSize < 0 {
		errs = append(errs, errors.New("ledger: Config sizes must not be negative"))
	}
	return errors.Join(errs...)
}

// DefaultCheckpointInterval is Config.CheckpointInterval's default. Signing
// after every commit cost single appends 11 % of their rate and 9-15 %
// of their CPU (docs/performance.md) and stored a checkpoint per WAL fsync,
// up to 1,600 a second; a reader waits at most this long for a checkpoint
// covering what it was acknowledged (the API's GET /v1/checkpoint waits
// for one).
const DefaultCheckpointInterval = 20 * time.Millisecond

func (c *Config) setDefaults() {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 4096
	}
	if c.CaseCache == 0 {
		c.CaseCache = 1 << 16
	}
	if c.CacheSize == 0 {
		c.CacheSize = 128 << 20
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// meta is stored once, at Create.
type meta struct {
	Format  int       `json:"format"`
	Origin  string    `json:"origin"`
	VKey    string    `json:"vkey"`
	Created time.Time `json:"created"`
	// IDIndex is the id index's value layout: "seq" (8 bytes) for ledgers
	// created since 2026-12-07; absent for earlier ones, which also hold
	// the SHA-256 of the canonical record after the seq (see keys.go).
	IDIndex string `json:"id_index,omitempty"`
}

// idIndexSeq is meta.IDIndex for id index values that hold the seq only.
const idIndexSeq = "seq"

// Head is the durable state of the ledger: the number of entries and the
// Merkle root over them.
type Head struct {
	Size     uint64
	Root     Hash
	LastHash Hash // leaf hash of entry Size-1; zero when Size is 0
}

// A Ledger is an append-only, hash-chained, Merkle-verifiable log of records
// stored in Pebble. It is safe for concurrent use.
//
// Durability contract: when Append returns a result with status Accepted or
// Duplicate, the entry has been written to Pebble's WAL and fsynced, together
// with its indexes, its tree hashes and the new head, in one batch. Entries
// are never visible to readers of the Ledger before that fsync.
type Ledger struct {
	cfg      Config
	db       *pebble.DB
	cache    *pebble.Cache
	verifier note.Verifier
	vkey     string
	// idDigest: the id index values carry the record's SHA-256 after the
	// seq (ledgers created before meta.IDIndex); fixed at Open.
	idDigest bool

	head atomic.Pointer[Head]       // durable head; written by the syncer
	cp   atomic.Pointer[Checkpoint] // latest stored checkpoint; written by the checkpointer

	headMu      sync.Mutex
	headChanged chan struct{} // closed and replaced when head moves; guarded by headMu

	cpMu      sync.Mutex
	cpChanged chan struct{} // closed and replaced when cp changes; guarded by cpMu
	cpRecent  []*Checkpoint // the checkpoints stored last, consecutive, ascending; guarded by cpMu

	reqs     chan *appendReq
	inflight chan *pending
	cpWake   chan struct{}
	fatal    atomic.Pointer[FatalError]

	closeMu  sync.RWMutex   // held for reading while a request is submitted
	closed   bool           // guarded by closeMu
	readers  sync.WaitGroup // reads admitted by enter; Close waits for them
	seqDone  chan struct{}
	syncDone chan struct{}
	cpDone   chan struct{}

	seq       *sequencer // owned by the sequencer goroutine after Open
	hashCache *hashCache // upper tree nodes for proofs
}

// memTableSize is the ledger's Pebble memtable size.
const memTableSize = 64 << 20

// newCache makes the block cache. Pebble reserves the memory of every
// memtable it allocates (the mutable one and those queued for flush) inside
// the block cache, so a cache no larger than the memtables holds no blocks
// at all: every index, filter and data block read would go to the file.
// CacheSize is therefore added on top of room for two memtables.
func newCache(cfg *Config) *pebble.Cache {
	return pebble.NewCache(cfg.CacheSize + 2*memTableSize)
}

func pebbleOptions(cfg *Config, cache *pebble.Cache) *pebble.Options {
	o := &pebble.Options{
		FS:           cfg.FS,
		Cache:        cache,
		MemTableSize: memTableSize,
		// Compact L0 once it holds 16 sublevels rather than Pebble's 4.
		// Every flushed table spans all of the ledger's key prefixes
		// (entries, tree hashes and the indexes, which grow at different
		// points of the key space), so each L0 compaction rewrites the
		// Lbase tables under all of them; fewer, larger compactions
		// rewrite less. Filling 3M entries in 100-record batches:
		// compactions wrote 855 MB instead of 1,764, 67,100 entries/s
		// instead of 54,237, no write stall in either. Reads barely
		// notice (bloom filters; a lookup crosses sublevels, not files):
		// at 700k entries with 5 sublevels instead of 2, proofs p50
		// 37-58 us against 35-36, Verify 393-402k entries/s against
		// 390-424k (docs/performance.md).
		L0CompactionThreshold: 16,
		L0StopWritesThreshold: 32,
		FormatMajorVersion:    pebble.FormatNewest,
		Logger:                quietLogger{cfg.Logger},
	}
	// MinLZ (Snappy's successor, faster on amd64) on every level, as the
	// read models' stores use. Alternated runs against Snappy: Verify
	// median 510,751 -> 543,786 entries/s (3.72 -> 3.51 CPU us/entry),
	// tables 12 % smaller, appends within noise. Tables written before
	// keep their Snappy blocks and read as they are.
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionFastest })
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		// 32 KiB data blocks rather than Pebble's 4 KiB: the ledger is
		// mostly read in long runs (Verify, the relay, exports, the
		// low levels of a proof, which lie next to each other), and
		// writes fewer, better compressed blocks. Paired runs: Verify
		// +5-20 %, single appends +5-20 %, proofs with a 4 MB cache at
		// 1M entries 30 -> 35 us (docs/performance.md).
		o.Levels[i].BlockSize = 32 << 10
	}
	return o
}

// Create makes a new, empty ledger in cfg.Dir, which must be missing or
// empty. It returns it open.
func Create(cfg Config) (*Ledger, error) {
	if err := cfg.validate(true); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if names, err := cfg.FS.List(cfg.Dir); err == nil && len(names) > 0 {
		return nil, fmt.Errorf("%w: %s is not empty", ErrExists, cfg.Dir)
	}
	if err := cfg.FS.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	cache := newCache(&cfg)
	defer cache.Unref()
	o := pebbleOptions(&cfg, cache)
	o.ErrorIfExists = true
	db, err := pebble.Open(cfg.Dir, o)
	if err != nil {
		return nil, fmt.Errorf("ledger: create %s: %w", cfg.Dir, err)
	}
	m, _ := json.Marshal(meta{Format: FormatVersion, Origin: cfg.Origin, VKey: cfg.Signer.VKey, Created: cfg.Now().UTC(), IDIndex: idIndexSeq})
	b := db.NewBatch()
	_ = b.Set(keyMeta, m, nil)
	_ = b.Set(keyHead, encodeHead(Head{Root: emptyRoot}), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return Open(cfg)
}

// Open opens an existing ledger. A missing or empty directory is
// ErrNotExist. Open reconciles the head with the stored entries, tree hashes
// and checkpoints, and never repairs anything silently: a disagreement is an
// error wrapping ErrCorrupt that names the seq. The one thing it does write
// is a signed checkpoint for the head when the last one was lost in a crash.
func Open(cfg Config) (*Ledger, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if names, err := cfg.FS.List(cfg.Dir); err != nil || len(names) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, cfg.Dir)
	}
	cache := newCache(&cfg)
	o := pebbleOptions(&cfg, cache)
	o.ErrorIfNotExists = true
	o.ReadOnly = cfg.ReadOnly
	db, err := pebble.Open(cfg.Dir, o)
	if err != nil {
		cache.Unref()
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotExist, cfg.Dir, err)
		}
		return nil, fmt.Errorf("ledger: open %s: %w", cfg.Dir, err)
	}
	l := &Ledger{cfg: cfg, db: db, cache: cache, cpChanged: make(chan struct{}), headChanged: make(chan struct{}), hashCache: newHashCache()}
	if err := l.reconcile(); err != nil {
		db.Close()
		cache.Unref()
		return nil, err
	}
	l.reqs = make(chan *appendReq, 1024)
	l.inflight = make(chan *pending, 4)
	l.cpWake = make(chan struct{}, 1)
	l.seqDone, l.syncDone, l.cpDone = make(chan struct{}), make(chan struct{}), make(chan struct{})
	if cfg.ReadOnly {
		// No goroutine owns anything: Close finds them all done.
		close(l.seqDone)
		close(l.syncDone)
		close(l.cpDone)
		return l, nil
	}
	go l.runSequencer()
	go l.runSyncer()
	go l.runCheckpointer()
	return l, nil
}

// reconcile checks, in order: meta, head, the entries at the head's edge,
// the tree hashes' extent and root, and the checkpoints. It fills l.head,
// l.cp and the sequencer state.
func (l *Ledger) reconcile() error {
	mb, err := l.get(keyMeta)
	if err != nil {
		return fmt.Errorf("%w: meta record missing: %v", ErrCorrupt, err)
	}
	var m meta
	if err := json.Unmarshal(mb, &m); err != nil {
		return fmt.Errorf("%w: meta record: %v", ErrCorrupt, err)
	}
	if m.Format != FormatVersion {
		return fmt.Errorf("ledger: format %d, this build reads %d", m.Format, FormatVersion)
	}
	switch m.IDIndex {
	case "":
		l.idDigest = true
	case idIndexSeq:
	default:
		return fmt.Errorf("ledger: id index layout %q, this build reads %q and the earlier one", m.IDIndex, idIndexSeq)
	}
	if l.cfg.Origin != "" && l.cfg.Origin != m.Origin {
		return fmt.Errorf("ledger: origin is %q, configured %q", m.Origin, l.cfg.Origin)
	}
	l.cfg.Origin = m.Origin
	if l.cfg.Signer != nil && l.cfg.Signer.VKey != m.VKey {
		return fmt.Errorf("ledger: the signing key does not match the ledger's verifier key %s", m.VKey)
	}
	l.vkey = m.VKey
	if l.verifier, err = note.NewVerifier(m.VKey); err != nil {
		return fmt.Errorf("%w: stored verifier key: %v", ErrCorrupt, err)
	}
	hb, err := l.get(keyHead)
	if err != nil {
		return fmt.Errorf("%w: head record missing", ErrCorrupt)
	}
	h, err := decodeHead(hb)
	if err != nil {
		return err
	}
	// The entry at the head's edge must be there and hash to LastHash, and
	// nothing may lie beyond it.
	if h.Size > 0 {
		e, err := l.get(seqKey(prefixEntry, h.Size-1))
		if err != nil {
			return &ChainError{Seq: h.Size - 1, What: "missing entry at the head"}
		}
		if got := LeafHash(e); got != h.LastHash {
			return &ChainError{Seq: h.Size - 1, What: "leaf hash at the head", Want: Hex(h.LastHash), Got: Hex(got)}
		}
		stored, err := l.get(seqKey(prefixHash, uint64(tlog.StoredHashIndex(0, int64(h.Size-1)))))
		if err != nil || !bytes.Equal(stored, h.LastHash[:]) {
			return &ChainError{Seq: h.Size - 1, What: "stored leaf hash at the head", Want: Hex(h.LastHash), Got: fmt.Sprintf("%x", stored)}
		}
	}
	if k, ok := l.lastKey(prefixEntry); ok && be64(k[1:]) >= h.Size {
		return &ChainError{Seq: be64(k[1:]), What: fmt.Sprintf("entry beyond the head (size %d)", h.Size)}
	}
	wantHashes := uint64(tlog.StoredHashCount(int64(h.Size)))
	if k, ok := l.lastKey(prefixHash); ok && be64(k[1:]) >= wantHashes {
		return &ChainError{Seq: h.Size, What: fmt.Sprintf("tree hash %d beyond the head (size %d)", be64(k[1:]), h.Size)}
	} else if !ok && wantHashes > 0 || ok && be64(k[1:]) != wantHashes-1 {
		return &ChainError{Seq: h.Size - 1, What: "tree hashes truncated"}
	}
	s := newSequencer(l, h)
	root, err := tlog.TreeHash(int64(h.Size), s.hashReader())
	if err != nil {
		return &ChainError{Seq: h.Size - 1, What: "tree hashes unreadable: " + err.Error()}
	}
	if root != h.Root {
		return &ChainError{Seq: h.Size - 1, What: "tree root", Want: Hex(h.Root), Got: Hex(root)}
	}
	l.seq = s
	l.head.Store(&h)

	// Checkpoints: the latest must verify, be no larger than the head and
	// agree with the tree. A missing one for the head is re-signed.
	if k, ok := l.lastKey(prefixCheckpoint); ok {
		size := be64(k[1:])
		nb, _ := l.get(k)
		cp, err := OpenCheckpoint(nb, l.cfg.Origin, l.verifier)
		if err != nil {
			return fmt.Errorf("%w: checkpoint at size %d: %v", ErrCorrupt, size, err)
		}
		if cp.Size != size || size > h.Size {
			return &ChainError{Seq: size, What: fmt.Sprintf("checkpoint for size %d but the head is %d", cp.Size, h.Size)}
		}
		r, err := l.rootAt(size)
		if err != nil {
			return err
		}
		if r != cp.Root {
			return &ChainError{Seq: size - 1, What: "checkpoint root", Want: Hex(r), Got: Hex(cp.Root)}
		}
		l.cp.Store(cp)
	}
	if cp := l.cp.Load(); !l.cfg.ReadOnly && (cp == nil || cp.Size < h.Size) {
		if err := l.storeCheckpoint(h.Size, h.Root); err != nil {
			return err
		}
	}
	return nil
}

func encodeHead(h Head) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 72), h.Size)
	b = append(b, h.Root[:]...)
	return append(b, h.LastHash[:]...)
}

func decodeHead(b []byte) (Head, error) {
	if len(b) != 72 {
		return Head{}, fmt.Errorf("%w: head record is %d bytes", ErrCorrupt, len(b))
	}
	var h Head
	h.Size = be64(b)
	copy(h.Root[:], b[8:40])
	copy(h.LastHash[:], b[40:72])
	return h, nil
}

var emptyRoot, _ = tlog.TreeHash(0, nil)

// idValueLen is the length of an id index value in this ledger.
func (l *Ledger) idValueLen() int {
	if l.idDigest {
		return 40
	}
	return 8
}

func (l *Ledger) get(k []byte) ([]byte, error) {
	v, closer, err := l.db.Get(k)
	if err != nil {
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

// lastKey returns the greatest key with the one-byte prefix p.
func (l *Ledger) lastKey(p byte) ([]byte, bool) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return nil, false
	}
	defer it.Close()
	if !it.Last() {
		return nil, false
	}
	return bytes.Clone(it.Key()), true
}

// Origin returns the log's origin line.
func (l *Ledger) Origin() string { return l.cfg.Origin }

// VerifierKey returns the log's verifier key (a C2SP vkey line).
func (l *Ledger) VerifierKey() string { return l.vkey }

// Verifier returns the log's checkpoint verifier.
func (l *Ledger) Verifier() note.Verifier { return l.verifier }

// Head returns the durable head.
func (l *Ledger) Head() Head { return *l.head.Load() }

// HeadChanged returns a channel that is closed the next time the durable
// head moves. Readers that follow the log (the JetStream relay) wait on it.
func (l *Ledger) HeadChanged() <-chan struct{} {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.headChanged
}

// Close stops accepting appends, finishes those already accepted, stores a
// checkpoint for the final head and closes Pebble.
func (l *Ledger) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.reqs)
	l.closeMu.Unlock()
	<-l.seqDone
	<-l.syncDone
	<-l.cpDone
	l.readers.Wait() // no read may outlive Pebble
	// Flush the memtable so that the next Open need not replay the WAL.
	var err error
	if l.fatal.Load() == nil && !l.cfg.ReadOnly {
		err = guardPebble(l.db.Flush)
	}
	err = errors.Join(err, l.db.Close())
	l.cache.Unref()
	return err
}

// enter admits a read of Pebble, or answers ErrClosed once Close has
// begun; an admitted read must call leave when done. Close waits for every
// admitted read, so that none touches a closed Pebble (which panics).
func (l *Ledger) enter() error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	l.readers.Add(1)
	return nil
}

func (l *Ledger) leave() { l.readers.Done() }

// enterWrite is enter for a write outside the sequencer.
func (l *Ledger) enterWrite() error {
	if l.cfg.ReadOnly {
		return ErrReadOnly
	}
	return l.enter()
}

// quietLogger routes Pebble's informational logs to slog at debug level.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (q quietLogger) Errorf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called by Pebble when its commit pipeline fails (a WAL write or
// sync error). Pebble's own default exits the process; we panic with a typed
// value that guardPebble turns into a FatalError, so the ledger stops and
// acknowledges nothing more, and the process can shut down cleanly.
func (q quietLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	q.l.Error(msg, "component", "pebble")
	panic(pebbleFatal(msg))
}

type pebbleFatal string

// guardPebble runs a Pebble write, converting Pebble's fatal panic into an
// error.
func guardPebble(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pf, ok := r.(pebbleFatal)
			if !ok {
				panic(r)
			}
			err = &FatalError{Err: errors.New(string(pf))}
		}
	}()
	return f()
}
