package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/maphash"
	"runtime"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyReport summarises a successful verification.
type VerifyReport struct {
	From, Size uint64      // entries [From, Size) were checked
	Root       Hash        // the root at Size, equal to the head's and the checkpoint's
	Checkpoint *Checkpoint // the checkpoint checked
	Cases      int         // cases seen
}

// Verify re-hashes every entry and checks, in one pass: seq density, the prev
// and case_prev links, case_seq density, every stored tree hash, the id, case
// and device indexes, the head, and the latest checkpoint's root and
// signature. The first broken place is returned as a *ChainError (wrapping
// ErrCorrupt) with its seq.
//
// Verify reads a consistent snapshot; appends may continue meanwhile.
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	snap := l.db.NewSnapshot()
	defer snap.Close()
	cp := l.cp.Load()
	hb, err := snapGet(snap, keyHead)
	if err != nil {
		return nil, fmt.Errorf("%w: head record: %v", ErrCorrupt, err)
	}
	head, err := decodeHead(hb)
	if err != nil {
		return nil, err
	}
	v := NewChainVerifier()
	// The index rows are read and summed while the entries are checked;
	// the sums are compared once both are done.
	seeds := newRowSeeds()
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got [3]indexSum
	gotErr := make(chan error, 1)
	go func() { gotErr <- sumIndexes(ictx, snap, seeds, &got) }()
	var want [3]indexSum
	err = l.verifyRange(ctx, snap, v, head, seeds, &want)
	if err != nil {
		cancel()
	}
	ierr := <-gotErr // before the snapshot is closed
	if err != nil {
		return nil, err
	}
	if ierr != nil {
		return nil, ierr
	}
	if want != got {
		return nil, l.locateIndexError(snap, head.Size)
	}
	return l.finishVerify(v, head, cp, 0)
}

// VerifyFrom verifies incrementally from a checkpoint the caller trusts: it
// checks the trusted checkpoint's signature, a consistency proof from it to
// the head, and then only the entries after it (hashes, links, tree hashes).
// A ledger whose history was rewritten before the trusted size fails, even
// if every later checkpoint was re-signed.
func (l *Ledger) VerifyFrom(ctx context.Context, trusted []byte) (*VerifyReport, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	tc, err := OpenCheckpoint(trusted, l.cfg.Origin, l.verifier)
	if err != nil {
		return nil, err
	}
	snap := l.db.NewSnapshot()
	defer snap.Close()
	cp := l.cp.Load()
	hb, err := snapGet(snap, keyHead)
	if err != nil {
		return nil, fmt.Errorf("%w: head record: %v", ErrCorrupt, err)
	}
	head, err := decodeHead(hb)
	if err != nil {
		return nil, err
	}
	if tc.Size > head.Size {
		return nil, &ChainError{Seq: head.Size, What: fmt.Sprintf("the trusted checkpoint has size %d but the ledger only %d: entries were lost", tc.Size, head.Size)}
	}
	if tc.Size == 0 {
		return l.Verify(ctx)
	}
	reader := snapHashes(snap)
	// The stored tree must agree with the trusted root...
	if root, err := tlog.TreeHash(int64(tc.Size), reader); err != nil || root != tc.Root {
		return nil, &ChainError{Seq: tc.Size - 1, What: "history rewritten before the trusted checkpoint: tree root", Want: Hex(tc.Root), Got: fmt.Sprintf("%s (%v)", Hex(root), err)}
	}
	// ...and prove, with the library's verifier, that the head extends it.
	proof, err := tlog.ProveTree(int64(head.Size), int64(tc.Size), reader)
	if err != nil {
		return nil, fmt.Errorf("%w: consistency proof: %v", ErrCorrupt, err)
	}
	if err := tlog.CheckTree(proof, int64(head.Size), head.Root, int64(tc.Size), tc.Root); err != nil {
		return nil, &ChainError{Seq: tc.Size, What: "consistency with the trusted checkpoint: " + err.Error()}
	}
	// Resume the chain at the trusted size: the last trusted entry must hash
	// to the stored leaf, which the trusted root covers.
	lastB, err := snapGet(snap, seqKey(prefixEntry, tc.Size-1))
	if err != nil {
		return nil, &ChainError{Seq: tc.Size - 1, What: "missing entry"}
	}
	last := LeafHash(lastB)
	lp, err := tlog.ProveRecord(int64(tc.Size), int64(tc.Size-1), reader)
	if err != nil || tlog.CheckRecord(lp, int64(tc.Size), tc.Root, int64(tc.Size-1), last) != nil {
		return nil, &ChainError{Seq: tc.Size - 1, What: "entry is not the one the trusted checkpoint covers"}
	}
	subtrees, err := subtreeHashes(tc.Size, reader)
	if err != nil {
		return nil, err
	}
	v, err := ResumeChainVerifier(tc.Size, subtrees, last)
	if err != nil {
		return nil, err
	}
	v.KnownCaseHead = func(c uuid.UUID) (uint64, Hash, bool, error) {
		return caseHeadBefore(snap, c, tc.Size)
	}
	v.lastTime = ""
	if e, err := ScanEntry(lastB); err == nil {
		v.lastTime = e.RecordedAt.Format(RecordedAtLayout)
	}
	if err := l.verifyRange(ctx, snap, v, head, nil, nil); err != nil {
		return nil, err
	}
	return l.finishVerify(v, head, cp, tc.Size)
}

func (l *Ledger) finishVerify(v *ChainVerifier, head Head, cp *Checkpoint, from uint64) (*VerifyReport, error) {
	if v.Size() != head.Size {
		return nil, &ChainError{Seq: v.Size(), What: "missing entry", Want: fmt.Sprintf("%d entries", head.Size), Got: fmt.Sprintf("%d", v.Size())}
	}
	if v.Root() != head.Root {
		return nil, &ChainError{Seq: head.Size - 1, What: "head root", Want: Hex(v.Root()), Got: Hex(head.Root)}
	}
	if head.Size > 0 && v.LastHash() != head.LastHash {
		return nil, &ChainError{Seq: head.Size - 1, What: "head leaf hash", Want: Hex(v.LastHash()), Got: Hex(head.LastHash)}
	}
	rep := &VerifyReport{From: from, Size: head.Size, Root: head.Root, Cases: len(v.cases)}
	if cp != nil {
		c, err := OpenCheckpoint(cp.Note, l.cfg.Origin, l.verifier)
		if err != nil {
			return nil, fmt.Errorf("%w: latest checkpoint: %v", ErrCorrupt, err)
		}
		if c.Size > head.Size {
			return nil, &ChainError{Seq: head.Size, What: fmt.Sprintf("checkpoint for size %d beyond the head", c.Size)}
		}
		root := head.Root
		if c.Size < head.Size {
			var err error
			if root, err = tlog.TreeHash(int64(c.Size), l.storedHashes()); err != nil {
				return nil, err
			}
		}
		if root != c.Root {
			return nil, &ChainError{Seq: c.Size - 1, What: "checkpoint root", Want: Hex(root), Got: Hex(c.Root)}
		}
		rep.Checkpoint = c
	}
	return rep, nil
}

// verifyRange feeds entries [v.Size(), head.Size) to v and checks the stored
// tree hashes each one implies. With sums non-nil it also adds every entry's
// index rows to them, hashed with seeds. Decoding, hashing and index rows
// run on all cores; the chain and the tree are checked in seq order.
func (l *Ledger) verifyRange(ctx context.Context, snap *pebble.Snapshot, v *ChainVerifier, head Head, seeds *rowSeeds, sums *[3]indexSum) error {
	from := v.Size()
	hit, err := snap.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixHash, uint64(tlog.StoredHashIndex(0, int64(from)))), UpperBound: []byte{prefixHash + 1}})
	if err != nil {
		return err
	}
	defer hit.Close()
	hit.First()

	stop := make(chan struct{})
	defer close(stop)
	work := make(chan *verifyChunk, 8)
	ordered := make(chan *verifyChunk, 8)
	free := make(chan *verifyChunk, 20) // chunks checked, for the producer to refill
	var prodErr error
	go func() {
		defer close(work)
		defer close(ordered)
		prodErr = produceChunks(snap, from, stop, work, ordered, free)
	}()
	for range max(1, runtime.GOMAXPROCS(0)) {
		go func() {
			for c := range work {
				c.process(seeds, l.idDigest)
			}
		}()
	}
	for c := range ordered {
		if err := ctx.Err(); err != nil {
			return err
		}
		<-c.done
		for i := range c.items {
			it := &c.items[i]
			seq := it.seq
			if seq >= head.Size {
				return &ChainError{Seq: seq, What: fmt.Sprintf("entry beyond the head (size %d)", head.Size)}
			}
			if seq != v.Size() {
				return &ChainError{Seq: v.Size(), What: "missing entry", Want: fmt.Sprintf("entry %d", v.Size()), Got: fmt.Sprintf("entry %d next", seq)}
			}
			if it.err != nil {
				return &ChainError{Seq: seq, What: "entry does not decode: " + it.err.Error()}
			}
			if err := v.addHashed(&it.e, it.leaf); err != nil {
				return err
			}
			idx := uint64(tlog.StoredHashIndex(0, int64(seq)))
			for i, h := range v.stored {
				if !hit.Valid() || be64(hit.Key()[1:]) != idx+uint64(i) {
					return &ChainError{Seq: seq, What: storedHashName(i) + " missing"}
				}
				if !bytes.Equal(hit.Value(), h[:]) {
					return &ChainError{Seq: seq, What: storedHashName(i), Want: Hex(h), Got: fmt.Sprintf("%x", hit.Value())}
				}
				hit.Next()
			}
		}
		if sums != nil {
			for i := range sums {
				sums[i].merge(&c.sums[i])
			}
		}
		select {
		case free <- c:
		default:
		}
	}
	if prodErr != nil {
		return prodErr
	}
	if v.Size() != head.Size {
		return &ChainError{Seq: v.Size(), What: "missing entry", Want: fmt.Sprintf("%d entries", head.Size), Got: fmt.Sprintf("%d", v.Size())}
	}
	if hit.Valid() {
		return &ChainError{Seq: head.Size, What: fmt.Sprintf("tree hash %d beyond the head", be64(hit.Key()[1:]))}
	}
	return nil
}

// storedHashName names the i-th stored hash an entry adds (level i).
func storedHashName(i int) string {
	if i == 0 {
		return "stored leaf hash"
	}
	return fmt.Sprintf("stored tree hash (level %d)", i)
}

// verifyChunk is a run of consecutive entries, decoded and hashed by a
// worker while the checker goes through earlier ones.
type verifyChunk struct {
	items []verifyItem
	buf   []byte
	sums  [3]indexSum
	done  chan struct{}
}

type verifyItem struct {
	seq  uint64
	raw  []byte
	e    Entry
	leaf Hash
	err  error
}

const verifyChunkSize = 256

// produceChunks reads the entries from seq from into chunks for the
// workers (work) and the ordered checker (ordered), reusing the chunks the
// checker is done with (free): growing a fresh buffer for every 256 entries
// cost more than reading them from Pebble.
func produceChunks(snap *pebble.Snapshot, from uint64, stop <-chan struct{}, work, ordered chan<- *verifyChunk, free <-chan *verifyChunk) error {
	eit, err := snap.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixEntry, from), UpperBound: []byte{prefixEntry + 1}})
	if err != nil {
		return err
	}
	defer eit.Close()
	newChunk := func() *verifyChunk {
		select {
		case c := <-free:
			clear(c.items) // drop the entries decoded last time
			*c = verifyChunk{items: c.items[:0], buf: c.buf[:0], done: make(chan struct{})}
			return c
		default:
			return &verifyChunk{items: make([]verifyItem, 0, verifyChunkSize), buf: make([]byte, 0, verifyChunkSize*1024), done: make(chan struct{})}
		}
	}
	c := newChunk()
	send := func() bool {
		// Both or neither: the checker waits on done for every chunk it gets.
		select {
		case ordered <- c:
		case <-stop:
			return false
		}
		select {
		case work <- c:
		case <-stop:
			close(c.done)
			return false
		}
		c = newChunk()
		return true
	}
	for ok := eit.First(); ok; ok = eit.Next() {
		k, val := eit.Key(), eit.Value()
		start := len(c.buf)
		c.buf = append(c.buf, val...)
		c.items = append(c.items, verifyItem{seq: be64(k[1:]), raw: c.buf[start:len(c.buf):len(c.buf)]})
		if len(c.items) == verifyChunkSize {
			// c.buf may have moved while growing: re-slice the items.
			c.reslice()
			if !send() {
				return nil
			}
		}
	}
	if len(c.items) > 0 {
		c.reslice()
		send()
	}
	return eit.Error()
}

func (c *verifyChunk) reslice() {
	off := 0
	for i := range c.items {
		n := len(c.items[i].raw)
		c.items[i].raw = c.buf[off : off+n : off+n]
		off += n
	}
}

// process decodes and hashes the chunk's entries, and with seeds non-nil
// sums their index rows (digest: as for sumRows).
func (c *verifyChunk) process(seeds *rowSeeds, digest bool) {
	defer close(c.done)
	var h hash.Hash
	if seeds != nil && digest {
		h = sha256.New()
	}
	for i := range c.items {
		it := &c.items[i]
		if it.err = scanEntryInto(it.raw, &it.e); it.err != nil {
			continue
		}
		it.leaf = LeafHash(it.raw)
		if seeds != nil && !sumRows(seeds, &c.sums, h, &it.e, it.seq, it.leaf, digest) {
			it.err = fmt.Errorf("the ledger's members are not in canonical form")
		}
	}
}

// sumRows adds the index rows entry e implies (expectedRows) to sums,
// building each in a buffer on the stack: Verify does this for every
// entry. With digest (Ledger.idDigest) the id row carries the record's
// SHA-256, taken with h; sumRows reports false if it cannot be.
func sumRows(seeds *rowSeeds, sums *[3]indexSum, h hash.Hash, e *Entry, seq uint64, leaf Hash, digest bool) bool {
	var buf [160]byte
	// id: prefixID id -> seq [digest]
	row := append(buf[:0], 0, 17, prefixID)
	row = append(row, e.ID[:]...)
	row = binary.BigEndian.AppendUint64(row, seq)
	if digest {
		d, ok := recordDigestWith(h, e)
		if !ok {
			return false
		}
		row = append(row, d[:]...)
	}
	sums[0].addRow(seeds, row)
	if e.CaseID != uuid.Nil {
		// case: prefixCase case case_seq -> seq leaf
		row = append(buf[:0], 0, 25, prefixCase)
		row = append(row, e.CaseID[:]...)
		row = binary.BigEndian.AppendUint64(row, e.CaseSeq)
		row = binary.BigEndian.AppendUint64(row, seq)
		sums[1].addRow(seeds, append(row, leaf[:]...))
	}
	// device: prefixDevice device 0 seq -> device.seq+1 (0 without)
	var dseq uint64
	if e.DeviceSeq >= 0 {
		dseq = uint64(e.DeviceSeq) + 1
	}
	n := len(e.DeviceID) + 10
	row = append(buf[:0], byte(n>>8), byte(n), prefixDevice)
	row = append(append(row, e.DeviceID...), 0)
	row = binary.BigEndian.AppendUint64(row, seq)
	sums[2].addRow(seeds, binary.BigEndian.AppendUint64(row, dseq))
	return true
}

// indexSum is an order-independent digest of a set of index rows: the
// count and two sums (mod 2^64) of a keyed hash of each row. It lets Verify
// compare the indexes with the entries in two sequential scans; only on a
// mismatch does it look row by row to name the seq.
//
// The hash is hash/maphash with two seeds drawn at random for each Verify
// run: nobody can know them in advance, so rows cannot be crafted to cancel
// out, and for rows that differ by accident the sums differ with
// probability 1 - 2^-128. It is not what proves the log (the entries, their
// links and the tree are checked with SHA-256); it checks that the indexes,
// which only serve lookups, hold exactly the rows the entries imply, at a
// few nanoseconds per row where SHA-256 of each row cost Verify a third of
// its time.
type indexSum struct {
	n    uint64
	a, b uint64
}

// rowSeeds are the keys of one Verify run's index digests.
type rowSeeds struct{ a, b maphash.Seed }

func newRowSeeds() *rowSeeds { return &rowSeeds{maphash.MakeSeed(), maphash.MakeSeed()} }

func (s *indexSum) merge(o *indexSum) {
	s.n += o.n
	s.a += o.a
	s.b += o.b
}

// add adds the row (k, v). The key's length goes first, so that no two
// rows hash the same bytes.
func (s *indexSum) add(seeds *rowSeeds, k, v []byte) {
	var buf [160]byte
	row := append(buf[:0], byte(len(k)>>8), byte(len(k)))
	s.addRow(seeds, append(append(row, k...), v...))
}

// addRow adds a row already laid out as add lays it out.
func (s *indexSum) addRow(seeds *rowSeeds, row []byte) {
	s.a += maphash.Bytes(seeds.a, row)
	s.b += maphash.Bytes(seeds.b, row)
	s.n++
}

// expectedRows returns the index rows an entry implies; digest says whether
// the id index values carry the record's digest (Ledger.idDigest).
func expectedRows(e *Entry, seq uint64, leaf Hash, digest bool) (id, cs, dev [2][]byte) {
	if !digest {
		id = [2][]byte{idKey(e.ID), seqKey(0, seq)[1:]}
	} else if d, ok := recordDigest(e); ok {
		id = [2][]byte{idKey(e.ID), append(seqKey(0, seq)[1:], d[:]...)}
	}
	if e.CaseID != uuid.Nil {
		cs = [2][]byte{caseKey(e.CaseID, e.CaseSeq), append(seqKey(0, seq)[1:], leaf[:]...)}
	}
	var dseq uint64
	if e.DeviceSeq >= 0 {
		dseq = uint64(e.DeviceSeq) + 1
	}
	dev = [2][]byte{deviceKey(e.DeviceID, seq), seqKey(0, dseq)[1:]}
	return
}

// sumIndexes sums the rows of the id, case and device indexes into got.
func sumIndexes(ctx context.Context, snap *pebble.Snapshot, seeds *rowSeeds, got *[3]indexSum) error {
	for i, p := range []byte{prefixID, prefixCase, prefixDevice} {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return err
		}
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			got[i].add(seeds, it.Key(), it.Value())
			if n++; n%4096 == 0 && ctx.Err() != nil {
				it.Close()
				return ctx.Err()
			}
		}
		err = it.Error()
		it.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// locateIndexError finds the seq behind an index mismatch, row by row.
func (l *Ledger) locateIndexError(snap *pebble.Snapshot, size uint64) error {
	names := [3]string{"id index", "case index", "device index"}
	// Every entry's rows must be present and equal.
	eit, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEntry}, UpperBound: []byte{prefixEntry + 1}})
	if err != nil {
		return err
	}
	for ok := eit.First(); ok; ok = eit.Next() {
		seq := be64(eit.Key()[1:])
		e, err := ScanEntry(eit.Value())
		if err != nil {
			eit.Close()
			return &ChainError{Seq: seq, What: "entry does not decode"}
		}
		id, cs, dev := expectedRows(e, seq, LeafHash(eit.Value()), l.idDigest)
		for i, row := range [3][2][]byte{id, cs, dev} {
			if row[0] == nil {
				continue
			}
			v, err := snapGet(snap, row[0])
			if err != nil || !bytes.Equal(v, row[1]) {
				eit.Close()
				return &ChainError{Seq: seq, Case: caseString(e.CaseID), What: names[i] + " row", Want: fmt.Sprintf("%x", row[1]), Got: fmt.Sprintf("%x", v)}
			}
		}
	}
	eit.Close()
	// Every row must belong to an entry: find the extra one.
	for i, p := range []byte{prefixID, prefixCase, prefixDevice} {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			k, v := it.Key(), it.Value()
			var seq uint64
			switch p {
			case prefixDevice:
				if len(k) >= 9 {
					seq = be64(k[len(k)-8:])
				}
			default:
				if len(v) >= 8 {
					seq = be64(v)
				}
			}
			eb, err := snapGet(snap, seqKey(prefixEntry, seq))
			ok := err == nil
			if ok {
				e, err := ScanEntry(eb)
				ok = err == nil
				if ok {
					id, cs, dev := expectedRows(e, seq, LeafHash(eb), l.idDigest)
					row := [3][2][]byte{id, cs, dev}[i]
					ok = bytes.Equal(row[0], k) && bytes.Equal(row[1], v)
				}
			}
			if !ok {
				it.Close()
				return &ChainError{Seq: seq, What: fmt.Sprintf("%s has a row %x that no entry implies", names[i], k)}
			}
		}
		it.Close()
	}
	return fmt.Errorf("%w: index digests differ but no row could be located", ErrCorrupt)
}

func caseString(c uuid.UUID) string {
	if c == uuid.Nil {
		return ""
	}
	return c.String()
}

func snapGet(snap *pebble.Snapshot, k []byte) ([]byte, error) {
	v, closer, err := snap.Get(k)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	closer.Close()
	return out, nil
}

func snapHashes(snap *pebble.Snapshot) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			v, err := snapGet(snap, seqKey(prefixHash, uint64(x)))
			if err != nil || len(v) != 32 {
				level, n := tlog.SplitStoredHashIndex(x)
				return nil, fmt.Errorf("%w: tree hash %d (level %d, node %d) unreadable", ErrCorrupt, x, level, n)
			}
			copy(out[i][:], v)
		}
		return out, nil
	})
}

// subtreeHashes returns the hashes of the perfect subtrees that make up
// [0, size), largest first: the state of a compact range over it.
func subtreeHashes(size uint64, r tlog.HashReader) ([][]byte, error) {
	var idx []int64
	var start uint64
	for level := 63; level >= 0; level-- {
		if size&(1<<level) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, int64(start>>level)))
			start += 1 << level
		}
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out, nil
}

// caseHeadBefore returns the last entry of case c with seq below size.
func caseHeadBefore(snap *pebble.Snapshot, c uuid.UUID, size uint64) (uint64, Hash, bool, error) {
	p := caseKey(c, 0)[:17]
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, Hash{}, false, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		v := it.Value()
		if len(v) != 40 {
			return 0, Hash{}, false, fmt.Errorf("%w: case index row", ErrCorrupt)
		}
		if be64(v) < size {
			var h Hash
			copy(h[:], v[8:])
			return be64(it.Key()[17:]), h, true, nil
		}
	}
	return 0, Hash{}, false, it.Error()
}
