package ledger

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// A ChainVerifier checks a stream of entries in seq order, without trusting
// whoever supplies them: it re-hashes each entry, checks seq density, the
// prev link, every case's case_seq density and case_prev link, and that
// recorded_at never goes backwards, and it computes the Merkle root of what
// it has seen. Ledger.Verify, the JetStream consumers and the liuhen verify
// command all use it. It is not safe for concurrent use.
//
// Its memory is one small record per case seen (the case's last case_seq and
// hash), not per entry.
type ChainVerifier struct {
	next     uint64
	lastHash Hash
	lastTime string    // recorded_at of the entry before the first, when a resume sets it
	lastAt   time.Time // recorded_at of the last entry accepted
	hasAt    bool
	cases    map[uuid.UUID]caseHead
	frontier [64]frontierNode // per tree level, the last complete node
	stored   []Hash           // the tree hashes the last Add completed (tlog stored-hash order)
	// KnownCaseHead, if set, supplies the head of a case that started before
	// the first entry this verifier sees (incremental verification). It
	// returns ok=false for a case with no earlier entries.
	KnownCaseHead func(c uuid.UUID) (caseSeq uint64, hash Hash, ok bool, err error)
}

// NewChainVerifier starts at entry 0.
func NewChainVerifier() *ChainVerifier {
	return &ChainVerifier{cases: make(map[uuid.UUID]caseHead)}
}

// hashes serves the tree hashes an append or the root needs: every one is
// the last complete node of its level.
func (v *ChainVerifier) hashes() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			level, n := tlog.SplitStoredHashIndex(x)
			f := v.frontier[level]
			if !f.ok || f.n != n {
				return nil, fmt.Errorf("tree node (level %d, %d) is not on the frontier", level, n)
			}
			out[i] = f.hash
		}
		return out, nil
	})
}

// ResumeChainVerifier starts at entry size of a log whose tree of that size
// is summarised by subtrees (the hashes of the perfect subtrees that make up
// [0, size), largest first, as compact.Range holds them) and whose entry
// size-1 has leaf hash last. The caller must have checked subtrees against a
// trusted root (see Ledger.VerifyFrom).
func ResumeChainVerifier(size uint64, subtrees [][]byte, last Hash) (*ChainVerifier, error) {
	v := &ChainVerifier{next: size, lastHash: last, cases: make(map[uuid.UUID]caseHead)}
	var start uint64
	for level := 63; level >= 0; level-- {
		if size&(1<<level) == 0 {
			continue
		}
		if len(subtrees) == 0 || len(subtrees[0]) != len(Hash{}) {
			return nil, fmt.Errorf("ledger: %d subtree hashes do not make a tree of size %d", len(subtrees), size)
		}
		var h Hash
		copy(h[:], subtrees[0])
		subtrees = subtrees[1:]
		v.frontier[level] = frontierNode{n: int64(start >> level), hash: h, ok: true}
		start += 1 << level
	}
	if len(subtrees) != 0 {
		return nil, fmt.Errorf("ledger: too many subtree hashes for a tree of size %d", size)
	}
	return v, nil
}

// Size returns how many entries the verifier has accepted, counting from 0.
func (v *ChainVerifier) Size() uint64 { return v.next }

// LastHash returns the leaf hash of the last entry accepted.
func (v *ChainVerifier) LastHash() Hash { return v.lastHash }

// Root returns the Merkle root of the entries accepted so far.
func (v *ChainVerifier) Root() Hash {
	h, err := tlog.TreeHash(int64(v.next), v.hashes())
	if err != nil {
		panic(err) // the frontier always holds the root's subtrees
	}
	return h
}

// Add checks the next entry and returns it decoded. On failure it returns a
// *ChainError naming the seq and accepts nothing; the verifier stays where it
// was.
func (v *ChainVerifier) Add(b []byte) (*Entry, error) {
	e, err := ScanEntry(b)
	if err != nil {
		return nil, &ChainError{Seq: v.next, What: "entry does not decode: " + err.Error()}
	}
	return e, v.AddDecoded(e)
}

// AddDecoded is Add for an entry already decoded (by DecodeEntry or Add's
// decoder); e.Bytes must be the exact stored bytes.
func (v *ChainVerifier) AddDecoded(e *Entry) error {
	return v.addHashed(e, LeafHash(e.Bytes))
}

// addHashed is AddDecoded with the leaf hash already computed.
func (v *ChainVerifier) addHashed(e *Entry, leaf Hash) error {
	if e.Seq != v.next {
		return &ChainError{Seq: v.next, What: "seq", Want: fmt.Sprint(v.next), Got: fmt.Sprint(e.Seq)}
	}
	if e.Prev != v.lastHash {
		return &ChainError{Seq: e.Seq, What: "prev", Want: Hex(v.lastHash), Got: Hex(e.Prev)}
	}
	// Compared as times (formatting each is a third of this function's
	// cost); entries hold whole microseconds, so this is the order of
	// their recorded_at strings.
	if v.hasAt && e.RecordedAt.Before(v.lastAt) || !v.hasAt && e.RecordedAt.Format(RecordedAtLayout) < v.lastTime {
		last := v.lastTime
		if v.hasAt {
			last = v.lastAt.Format(RecordedAtLayout)
		}
		return &ChainError{Seq: e.Seq, What: "recorded_at went backwards", Want: ">= " + last, Got: e.RecordedAt.Format(RecordedAtLayout)}
	}
	var ch caseHead
	if e.CaseID != uuid.Nil {
		var ok bool
		ch, ok = v.cases[e.CaseID]
		if !ok && v.KnownCaseHead != nil {
			s, h, found, err := v.KnownCaseHead(e.CaseID)
			if err != nil {
				return &ChainError{Seq: e.Seq, Case: e.CaseID.String(), What: "earlier case head unreadable: " + err.Error()}
			}
			if found {
				ch = caseHead{caseSeq: s, hash: h}
			}
		}
		if e.CaseSeq != ch.caseSeq+1 {
			return &ChainError{Seq: e.Seq, Case: e.CaseID.String(), What: "case_seq", Want: fmt.Sprint(ch.caseSeq + 1), Got: fmt.Sprint(e.CaseSeq)}
		}
		if e.CasePrev != ch.hash {
			return &ChainError{Seq: e.Seq, Case: e.CaseID.String(), What: "case_prev", Want: Hex(ch.hash), Got: Hex(e.CasePrev)}
		}
	}
	// The tree hashes this leaf completes, in tlog's stored-hash order (as
	// tlog.StoredHashesForRecordHash, without its allocations): the leaf,
	// then at each level where the new node is a right child, its parent,
	// whose left child is the frontier's node of that level.
	for i := 0; e.Seq>>i&1 == 1; i++ {
		if f := v.frontier[i]; !f.ok || f.n != int64(e.Seq>>i)-1 {
			return &ChainError{Seq: e.Seq, What: fmt.Sprintf("tree: node (level %d, %d) is not on the frontier", i, int64(e.Seq>>i)-1)}
		}
	}
	stored := append(v.stored[:0], leaf)
	h := leaf
	for i := 0; e.Seq>>i&1 == 1; i++ {
		h = tlog.NodeHash(v.frontier[i].hash, h)
		stored = append(stored, h)
	}
	for i, h := range stored {
		v.frontier[i] = frontierNode{n: int64(e.Seq) >> i, hash: h, ok: true}
	}
	v.stored = stored
	if e.CaseID != uuid.Nil {
		v.cases[e.CaseID] = caseHead{caseSeq: e.CaseSeq, hash: leaf}
	}
	v.next++
	v.lastHash = leaf
	v.lastAt, v.hasAt = e.RecordedAt, true
	return nil
}
