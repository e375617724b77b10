package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// Status is the outcome of appending one record.
type Status uint8

const (
	// Accepted: the record is a new entry at Result.Seq.
	Accepted Status = iota + 1
	// Duplicate: a record with the same id and the same content is already
	// the entry at Result.Seq. Duplicates are recognised forever.
	Duplicate
	// Conflict: the id is already the entry at Result.Seq, with different
	// content. Nothing was written.
	Conflict
	// Invalid: the record's envelope is broken; Result.Err says how.
	Invalid
)

func (s Status) String() string {
	switch s {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Conflict:
		return "conflict"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Status(%d)", s)
}

// Result is the outcome of one record of an Append.
type Result struct {
	Status  Status
	Seq     uint64 // the entry's seq (for Duplicate and Conflict, the original's)
	Hash    Hash   // the entry's leaf hash
	CaseSeq uint64 // the entry's case_seq, 0 without a case
	Err     error  // *InvalidError for Invalid, ErrConflict for Conflict
}

type appendReq struct {
	recs    []*Record
	results []Result
	done    chan error

	// For Restore: the entries to write, byte for byte, and their
	// recorded_at. Such a request is a group of its own.
	entries [][]byte
	at      []time.Time
}

// pending is a batch applied to Pebble whose fsync has not been awaited yet.
type pending struct {
	batch *pebble.Batch
	reqs  []*appendReq
	head  Head
}

// Append parses and appends a batch of raw JSON records, one Result per
// record, in order. Records whose envelope is broken get status Invalid and
// do not hold up the others.
//
// Append returns when every record's result is durable (see Ledger). A
// non-nil error means the ledger could not answer (closed, a fatal storage
// error, or ctx done): if ctx ended first, the records may or may not have
// been appended, and submitting them again is safe because ids are
// idempotent.
func (l *Ledger) Append(ctx context.Context, raw [][]byte) ([]Result, error) {
	results := make([]Result, len(raw))
	recs := make([]*Record, 0, len(raw))
	idx := make([]int, 0, len(raw))
	for i, b := range raw {
		r, err := ParseRecord(b)
		if err != nil {
			results[i] = Result{Status: Invalid, Err: err}
			continue
		}
		recs = append(recs, r)
		idx = append(idx, i)
	}
	if len(recs) == 0 {
		return results, nil
	}
	res, err := l.AppendRecords(ctx, recs)
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		results[i] = res[j]
	}
	return results, nil
}

// AppendRecords appends records already checked by ParseRecord. It is Append
// for callers that parse records themselves, such as the HTTP API.
func (l *Ledger) AppendRecords(ctx context.Context, recs []*Record) ([]Result, error) {
	if f := l.fatal.Load(); f != nil {
		return nil, f
	}
	req := &appendReq{recs: recs, results: make([]Result, len(recs)), done: make(chan error, 1)}
	if err := l.submit(ctx, req); err != nil {
		return nil, err
	}
	return req.results, nil
}

// submit hands req to the sequencer and waits for its answer.
func (l *Ledger) submit(ctx context.Context, req *appendReq) error {
	if l.cfg.ReadOnly {
		return ErrReadOnly
	}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return ctx.Err()
	}
	l.closeMu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// caseHead is the last entry of a case.
type caseHead struct {
	caseSeq uint64
	hash    Hash
}

// sequencer is the state of the one goroutine that owns the chain head.
// Nothing else reads or writes it.
type sequencer struct {
	l         *Ledger
	size      uint64
	lastHash  Hash
	lastTime  time.Time
	frontier  [64]frontierNode // per tree level, the last stored node
	cases     *twoGen[uuid.UUID, caseHead]
	batchIDs  map[uuid.UUID]int // id -> index in batchRecs, for the batch being built
	batchRecs []*Record
	batchRes  []Result
	entryBuf  []byte

	idKeys [][]byte             // the batch's id index keys, sorted
	known  map[uuid.UUID][]byte // id index values found for the batch

	// The batch's tree hashes and index rows, held back until its entries
	// are in, then added one key prefix after another (see rows).
	hashRows, caseRows, deviceRows, idRows rows
	devKey                                 []byte
}

// rows are Pebble keys and values held for a batch. The memtable's
// skiplist remembers where it inserted last, and a key that lands right
// after that is inserted without a search from the top. A batch that
// alternates prefixes (entry, hashes, id, case, device, next entry, ...)
// never lands there, so the sequencer adds a batch's keys grouped by
// prefix and in key order: the entries and tree hashes (ascending as they
// come), then the case rows (a case's new rows follow its last one), the
// device rows (the same) and the id rows (ascending too for time-ordered
// ids, UUIDv7 as the catalogue recommends).
type rows struct {
	buf  []byte
	rows []row
}

// row is a key and value in rows.buf: buf[start:k] and buf[k:end].
type row struct{ start, k, end int }

func (r *rows) reset() { r.buf, r.rows = r.buf[:0], r.rows[:0] }

// add appends a row whose key is prefix, key and be64(n) (n < 0: none),
// and whose value is the concatenation of v.
func (r *rows) add(prefix byte, key []byte, n int64, v ...[]byte) {
	w := row{start: len(r.buf)}
	r.buf = append(r.buf, prefix)
	r.buf = append(r.buf, key...)
	if n >= 0 {
		r.buf = binary.BigEndian.AppendUint64(r.buf, uint64(n))
	}
	w.k = len(r.buf)
	for _, p := range v {
		r.buf = append(r.buf, p...)
	}
	w.end = len(r.buf)
	r.rows = append(r.rows, w)
}

// sort puts the rows in key order.
func (r *rows) sort() {
	slices.SortFunc(r.rows, func(a, b row) int { return bytes.Compare(r.buf[a.start:a.k], r.buf[b.start:b.k]) })
}

// writeTo adds the rows to b.
func (r *rows) writeTo(b *pebble.Batch) error {
	for _, w := range r.rows {
		if err := b.Set(r.buf[w.start:w.k], r.buf[w.k:w.end], nil); err != nil {
			return err
		}
	}
	return nil
}

type frontierNode struct {
	n    int64
	hash Hash
	ok   bool
}

func newSequencer(l *Ledger, h Head) *sequencer {
	return &sequencer{
		l:        l,
		size:     h.Size,
		lastHash: h.LastHash,
		cases:    newTwoGen[uuid.UUID, caseHead](caseCacheSize(&l.cfg)),
		batchIDs: make(map[uuid.UUID]int),
		known:    make(map[uuid.UUID][]byte),
	}
}

// caseCacheSize keeps every case head written by the batch being built in
// the cache: those are not yet in Pebble, so they must not be evicted.
func caseCacheSize(c *Config) int { return max(c.CaseCache, 2*c.MaxBatch+2) }

// hashReader serves stored tree hashes from the frontier, falling back to
// Pebble. Every hash that appending or computing the root needs is the last
// node of its level, so after the first reads it is always served from memory.
func (s *sequencer) hashReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			level, n := tlog.SplitStoredHashIndex(x)
			if f := &s.frontier[level]; f.ok && f.n == n {
				out[i] = f.hash
				continue
			}
			v, err := s.l.get(seqKey(prefixHash, uint64(x)))
			if err != nil {
				return nil, fmt.Errorf("tree hash %d (level %d, node %d): %w", x, level, n, err)
			}
			if len(v) != len(Hash{}) {
				return nil, fmt.Errorf("tree hash %d is %d bytes", x, len(v))
			}
			copy(out[i][:], v)
			s.frontier[level] = frontierNode{n: n, hash: out[i], ok: true}
		}
		return out, nil
	})
}

// yieldBelow is the size of a request under which the sequencer lets the
// goroutines ready to run go first before it gathers a group (runSequencer).
const yieldBelow = 16

func (l *Ledger) runSequencer() {
	defer close(l.seqDone)
	defer close(l.inflight)
	s := l.seq
	var carry *appendReq // a Restore request met while gathering, next group
	for {
		req := carry
		carry = nil
		if req == nil {
			r, ok := <-l.reqs
			if !ok {
				return
			}
			req = r
		}
		reqs := []*appendReq{req}
		n := len(req.recs)
		if req.entries == nil && n < yieldBelow {
			// A small request, such as one record from one of many
			// concurrent callers: let the goroutines that are ready to
			// run (callers an fsync has just answered, about to send
			// their next record) go first, so that they join this group
			// rather than each waking the sequencer for a group of its
			// own. The group goes into the same fsync either way.
			runtime.Gosched()
		}
	gather:
		for req.entries == nil && n < l.cfg.MaxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break gather
				}
				if r.entries != nil {
					carry = r
					break gather
				}
				reqs = append(reqs, r)
				n += len(r.recs)
			default:
				break gather
			}
		}
		if f := l.fatal.Load(); f != nil {
			for _, r := range reqs {
				r.done <- f
			}
			continue
		}
		p, err := s.build(reqs)
		var re *RestoreError
		if errors.As(err, &re) {
			req.done <- err // nothing was written; the ledger goes on
			continue
		}
		if err != nil {
			l.fail(err)
			for _, r := range reqs {
				r.done <- l.fatal.Load()
			}
			continue
		}
		l.inflight <- p
	}
}

// batchRetained is the largest buffer a closed commit batch keeps for the
// next one.
const batchRetained = 8 << 20

// build assigns seqs to a group of requests, writes their entries, indexes,
// tree hashes and the new head into one batch, and applies it. The caller
// awaits the fsync.
func (s *sequencer) build(reqs []*appendReq) (*pending, error) {
	l := s.l
	// Pebble pools closed batches, but drops a buffer over 1 MiB, which
	// a group of a few hundred records passes: each would grow a fresh one
	// by doubling.
	b := l.db.NewBatch(pebble.WithMaxRetainedSizeBytes(batchRetained))
	clear(s.batchIDs)
	s.batchRecs = s.batchRecs[:0]
	s.batchRes = s.batchRes[:0]
	now := l.cfg.Now().UTC().Truncate(time.Microsecond)
	if now.Before(s.lastTime) {
		now = s.lastTime // recorded_at never goes backwards
	}
	start := s.size
	for _, r := range s.groups() {
		r.reset()
	}
	if err := s.lookupIDs(reqs); err != nil {
		b.Close()
		return nil, err
	}
	lastHash, lastTime := s.lastHash, s.lastTime
	if reqs[0].entries != nil {
		now = s.lastTime // a Restore request is a group of its own
	}
	for _, req := range reqs {
		for i, r := range req.recs {
			at := now
			var err error
			if req.entries != nil {
				at = req.at[i]
				if at.Before(now) {
					err = &RestoreError{Seq: s.size, What: "recorded_at", Want: "at least " + now.Format(RecordedAtLayout), Got: at.Format(RecordedAtLayout)}
				}
			}
			var res Result
			if err == nil {
				res, err = s.appendOne(b, r, at)
			}
			if err == nil && req.entries != nil {
				err = s.restored(req.entries[i], res)
			}
			if err != nil {
				b.Close()
				s.rollback(start)
				s.lastHash, s.lastTime = lastHash, lastTime
				return nil, err
			}
			if req.entries != nil {
				now = at
			}
			req.results[i] = res
		}
	}
	h := Head{Size: s.size, LastHash: s.lastHash}
	root, err := tlog.TreeHash(int64(s.size), s.hashReader())
	if err != nil {
		b.Close()
		s.rollback(start)
		return nil, err
	}
	h.Root = root
	s.caseRows.sort()
	s.deviceRows.sort()
	s.idRows.sort()
	for _, r := range s.groups() {
		if err := r.writeTo(b); err != nil {
			b.Close()
			s.rollback(start)
			return nil, err
		}
	}
	if err := b.Set(keyHead, encodeHead(h), nil); err != nil {
		b.Close()
		s.rollback(start)
		return nil, err
	}
	if err := guardPebble(func() error { return l.db.ApplyNoSyncWait(b, pebble.Sync) }); err != nil {
		b.Close()
		s.rollback(start)
		return nil, err
	}
	s.lastTime = now
	return &pending{batch: b, reqs: reqs, head: h}, nil
}

// groups are the held rows, in the order they go into the batch after
// its entries.
func (s *sequencer) groups() [4]*rows {
	return [4]*rows{&s.hashRows, &s.caseRows, &s.deviceRows, &s.idRows}
}

// lookupIDs reads the id index for every record of the batch into s.known,
// in key order through one iterator: cheaper than a Get per record, which
// builds a fresh iterator stack each time. Entries applied by earlier
// batches are visible (applied before their fsync), and duplicates within
// this batch are caught by batchIDs.
func (s *sequencer) lookupIDs(reqs []*appendReq) error {
	clear(s.known)
	s.idKeys = s.idKeys[:0]
	for _, req := range reqs {
		for _, r := range req.recs {
			s.idKeys = append(s.idKeys, idKey(r.ID))
		}
	}
	slices.SortFunc(s.idKeys, bytes.Compare)
	it, err := s.l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixID}, UpperBound: []byte{prefixID + 1}})
	if err != nil {
		return err
	}
	for i, k := range s.idKeys {
		if i > 0 && bytes.Equal(k, s.idKeys[i-1]) {
			continue
		}
		if !it.SeekPrefixGE(k) || !bytes.Equal(it.Key(), k) {
			// Absent, unless the seek failed: an unread index must never
			// pass for a new id.
			if err := it.Error(); err != nil {
				it.Close()
				return err
			}
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		s.known[uuid.UUID(k[1:])] = bytes.Clone(v)
	}
	return it.Close()
}

// rollback forgets in-memory state of a batch that was not applied. The
// ledger is failed afterwards anyway; this keeps the state honest.
func (s *sequencer) rollback(start uint64) {
	s.size = start
	s.frontier = [64]frontierNode{}
	s.cases = newTwoGen[uuid.UUID, caseHead](caseCacheSize(&s.l.cfg))
}

func (s *sequencer) appendOne(b *pebble.Batch, r *Record, now time.Time) (Result, error) {
	l := s.l
	// Idempotency: first this batch, then the permanent id index.
	if j, ok := s.batchIDs[r.ID]; ok {
		orig := s.batchRecs[j]
		res := s.batchRes[j]
		if bytes.Equal(orig.canonical, r.canonical) {
			res.Status = Duplicate
		} else {
			res.Status, res.Err = Conflict, ErrConflict
		}
		return res, nil
	}
	if v, ok := s.known[r.ID]; ok {
		if len(v) != l.idValueLen() {
			return Result{}, fmt.Errorf("%w: id index value for %s is %d bytes", ErrCorrupt, r.ID, len(v))
		}
		res := Result{Seq: be64(v)}
		hb, err := l.get(seqKey(prefixHash, uint64(tlog.StoredHashIndex(0, int64(res.Seq)))))
		if err != nil {
			return Result{}, fmt.Errorf("%w: leaf hash of seq %d: %v", ErrCorrupt, res.Seq, err)
		}
		copy(res.Hash[:], hb)
		same, err := s.sameRecord(v, res.Seq, r)
		if err != nil {
			return Result{}, err
		}
		if same {
			res.Status = Duplicate
		} else {
			res.Status, res.Err = Conflict, ErrConflict
		}
		return res, nil
	}

	seq := s.size
	var ch caseHead
	if r.HasCase() {
		var err error
		if ch, err = s.caseHead(r.CaseID); err != nil {
			return Result{}, err
		}
		ch.caseSeq++
	}
	s.entryBuf = encodeEntry(s.entryBuf[:0], seq, now, s.lastHash, ch.caseSeq, ch.hash, r.canonical)
	leaf := LeafHash(s.entryBuf)
	hashes, err := tlog.StoredHashesForRecordHash(int64(seq), leaf, s.hashReader())
	if err != nil {
		return Result{}, err
	}
	_ = b.Set(seqKey(prefixEntry, seq), s.entryBuf, nil)
	base := tlog.StoredHashIndex(0, int64(seq))
	for i, h := range hashes {
		s.hashRows.add(prefixHash, nil, base+int64(i), h[:])
		s.frontier[i] = frontierNode{n: int64(seq) >> i, hash: h, ok: true}
	}
	var seqb [8]byte
	binary.BigEndian.PutUint64(seqb[:], seq)
	if l.idDigest {
		d := r.Digest()
		s.idRows.add(prefixID, r.ID[:], -1, seqb[:], d[:])
	} else {
		s.idRows.add(prefixID, r.ID[:], -1, seqb[:])
	}
	if r.HasCase() {
		s.caseRows.add(prefixCase, r.CaseID[:], int64(ch.caseSeq), seqb[:], leaf[:])
		s.cases.put(r.CaseID, caseHead{caseSeq: ch.caseSeq, hash: leaf})
	}
	var dseq [8]byte
	if r.DeviceSeq >= 0 {
		binary.BigEndian.PutUint64(dseq[:], uint64(r.DeviceSeq)+1)
	}
	s.devKey = append(append(s.devKey[:0], r.DeviceID...), 0)
	s.deviceRows.add(prefixDevice, s.devKey, int64(seq), dseq[:])
	res := Result{Status: Accepted, Seq: seq, Hash: leaf, CaseSeq: ch.caseSeq}
	s.batchIDs[r.ID] = len(s.batchRecs)
	s.batchRecs = append(s.batchRecs, r)
	s.batchRes = append(s.batchRes, res)
	s.size++
	s.lastHash = leaf
	return res, nil
}

// sameRecord reports whether r has the content of the entry at seq, whose
// id index value is v: the same canonical record. With the record's digest
// in the index it compares digests; otherwise it reads the entry, which only
// a resubmitted id costs.
func (s *sequencer) sameRecord(v []byte, seq uint64, r *Record) (bool, error) {
	if s.l.idDigest {
		d := r.Digest()
		return bytes.Equal(v[8:], d[:]), nil
	}
	eb, err := s.l.get(seqKey(prefixEntry, seq))
	if err != nil {
		return false, fmt.Errorf("%w: entry %d, which the id index names for %s: %v", ErrCorrupt, seq, r.ID, err)
	}
	var e Entry
	n, err := parsePrefix(eb, &e)
	if err != nil || e.Seq != seq {
		return false, fmt.Errorf("%w: entry %d, which the id index names for %s, does not decode: %v", ErrCorrupt, seq, r.ID, err)
	}
	// The entry's record members follow its ledger members; the record's
	// canonical form is '{' and the same members.
	return len(r.canonical) > 0 && bytes.Equal(eb[n:], r.canonical[1:]), nil
}

func (s *sequencer) caseHead(c uuid.UUID) (caseHead, error) {
	if h, ok := s.cases.get(c); ok {
		return h, nil
	}
	p := caseKey(c, 0)[:17]
	it, err := s.l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return caseHead{}, err
	}
	defer it.Close()
	var h caseHead
	if it.Last() {
		v := it.Value()
		if len(v) != 40 {
			return caseHead{}, fmt.Errorf("%w: case index value for %s", ErrCorrupt, c)
		}
		h.caseSeq = be64(it.Key()[17:])
		copy(h.hash[:], v[8:])
	}
	if err := it.Error(); err != nil {
		return caseHead{}, err
	}
	s.cases.put(c, h)
	return h, nil
}

// runSyncer awaits each applied batch's fsync in order, then publishes the
// new head and answers its callers. A failed fsync stops the ledger: nothing
// after it is acknowledged.
func (l *Ledger) runSyncer() {
	defer close(l.syncDone)
	defer close(l.cpWake)
	for p := range l.inflight {
		err := guardPebble(p.batch.SyncWait)
		if err == nil {
			err = p.batch.Close()
		}
		if err != nil || l.fatal.Load() != nil {
			if err != nil {
				l.fail(err)
			}
			for _, r := range p.reqs {
				r.done <- l.fatal.Load()
			}
			continue
		}
		h := p.head
		l.headMu.Lock()
		l.head.Store(&h)
		close(l.headChanged)
		l.headChanged = make(chan struct{})
		l.headMu.Unlock()
		for _, r := range p.reqs {
			r.done <- nil
		}
		select {
		case l.cpWake <- struct{}{}:
		default:
		}
	}
}

func (l *Ledger) fail(err error) {
	var fe *FatalError
	if !errors.As(err, &fe) {
		fe = &FatalError{Err: err}
	}
	if l.fatal.CompareAndSwap(nil, fe) {
		l.cfg.Logger.Error("ledger stopped", "err", err)
	}
}

// Err returns the fatal error that stopped the ledger, or nil.
func (l *Ledger) Err() error {
	if f := l.fatal.Load(); f != nil {
		return f
	}
	return nil
}

// twoGen is a bounded map: when the young generation fills, it becomes the
// old one and the old one is dropped. Lookups promote old entries.
type twoGen[K comparable, V any] struct {
	young, old map[K]V
	limit      int
}

func newTwoGen[K comparable, V any](capacity int) *twoGen[K, V] {
	lim := max(capacity/2, 1)
	return &twoGen[K, V]{young: make(map[K]V), old: make(map[K]V), limit: lim}
}

func (g *twoGen[K, V]) get(k K) (V, bool) {
	if v, ok := g.young[k]; ok {
		return v, true
	}
	v, ok := g.old[k]
	if ok {
		g.put(k, v)
	}
	return v, ok
}

func (g *twoGen[K, V]) put(k K, v V) {
	if len(g.young) >= g.limit {
		g.old, g.young = g.young, make(map[K]V, g.limit)
	}
	g.young[k] = v
}
