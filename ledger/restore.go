package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// A RestoreError says why Restore refused an entry. Nothing of its batch was
// written, and the ledger goes on as before.
type RestoreError struct {
	Seq  uint64 // the entry's place: the seq the ledger would give it
	What string // what differs: "seq", "prev", "case_seq", "case_prev", "recorded_at", "id", "entry", ...
	Want string // what the ledger implies
	Got  string // what the entry holds
}

func (e *RestoreError) Error() string {
	if e.Want == "" && e.Got == "" {
		return fmt.Sprintf("ledger: cannot restore the entry at seq %d: %s", e.Seq, e.What)
	}
	return fmt.Sprintf("ledger: cannot restore the entry at seq %d: %s: want %s, got %s", e.Seq, e.What, e.Want, e.Got)
}

// Restore appends entries that another copy of this ledger wrote, byte for
// byte, such as its JetStream stream or an evidence bundle of the whole
// log. It is how a ledger restored from an older backup gets back the
// entries acknowledged after the backup (liuhen recover), without which a
// relay refuses the stream that holds them.
//
// Each entry must be exactly the one this ledger would write for its record
// at the next seq with the entry's recorded_at: seq, prev, case_seq and
// case_prev linking to what the ledger holds, recorded_at not before the
// last entry's, a valid record whose id is new. Entries are written as
// Append writes them (indexes, tree hashes, head, one fsynced batch), all or
// nothing: the first entry that does not fit is returned as a
// *RestoreError and nothing of the call is written.
func (l *Ledger) Restore(ctx context.Context, entries [][]byte) error {
	if len(entries) == 0 {
		return nil
	}
	if len(entries) > l.cfg.MaxBatch {
		return fmt.Errorf("ledger: Restore takes at most %d entries at a time, not %d", l.cfg.MaxBatch, len(entries))
	}
	if f := l.fatal.Load(); f != nil {
		return f
	}
	req := &appendReq{
		recs:    make([]*Record, len(entries)),
		results: make([]Result, len(entries)),
		done:    make(chan error, 1),
		entries: entries,
		at:      make([]time.Time, len(entries)),
	}
	for i, b := range entries {
		var e Entry
		n, err := parsePrefix(b, &e)
		if err != nil {
			return &RestoreError{Seq: e.Seq, What: fmt.Sprintf("entry %d of the call does not read as an entry: %v", i, err)}
		}
		rec := make([]byte, 0, 1+len(b)-n)
		rec = append(append(rec, '{'), b[n:]...)
		r, err := ParseRecord(rec)
		if err != nil {
			return &RestoreError{Seq: e.Seq, What: fmt.Sprintf("its record is not valid: %v", err)}
		}
		req.recs[i], req.at[i] = r, e.RecordedAt
	}
	return l.submit(ctx, req)
}

// restored checks the entry Restore was given against the entry appendOne
// just wrote for its record (in s.entryBuf), and says what differs.
func (s *sequencer) restored(want []byte, res Result) error {
	if res.Status != Accepted {
		return &RestoreError{Seq: s.size, What: "id", Want: "an id the ledger does not hold", Got: fmt.Sprintf("the id of entry %d", res.Seq)}
	}
	got := s.entryBuf
	if bytes.Equal(got, want) {
		return nil
	}
	seq := s.size - 1
	var g, w Entry
	_, gerr := parsePrefix(got, &g)
	_, werr := parsePrefix(want, &w)
	if gerr != nil || werr != nil {
		return &RestoreError{Seq: seq, What: "entry", Want: string(got), Got: string(want)}
	}
	switch {
	case w.Seq != g.Seq:
		return &RestoreError{Seq: seq, What: "seq", Want: fmt.Sprint(g.Seq), Got: fmt.Sprint(w.Seq)}
	case w.Prev != g.Prev:
		return &RestoreError{Seq: seq, What: "prev", Want: hex.EncodeToString(g.Prev[:]), Got: hex.EncodeToString(w.Prev[:])}
	case w.CaseSeq != g.CaseSeq:
		return &RestoreError{Seq: seq, What: "case_seq", Want: fmt.Sprint(g.CaseSeq), Got: fmt.Sprint(w.CaseSeq)}
	case w.CasePrev != g.CasePrev:
		return &RestoreError{Seq: seq, What: "case_prev", Want: hex.EncodeToString(g.CasePrev[:]), Got: hex.EncodeToString(w.CasePrev[:])}
	}
	// The same ledger members, so the record's bytes differ: not in the
	// canonical form this ledger writes.
	return &RestoreError{Seq: seq, What: "entry", Want: string(got), Got: string(want)}
}

// AddCheckpoints stores checkpoints that this ledger's key signed for sizes
// it holds, such as those its relay published before the ledger was
// restored from an older backup (liuhen recover). Every checkpoint an
// auditor may hold then stays answerable (GET /v1/checkpoints, consistency
// proofs), and the relay finds the checkpoints stream in step again. Each
// note must verify with the ledger's key and origin and name the root of
// the ledger's first Size entries; a checkpoint already stored for a size
// must be the same note (signatures are deterministic: the ledger signing
// the same size again writes the same bytes). All are checked before any
// is stored, in one fsynced write. It returns how many were not stored
// before.
func (l *Ledger) AddCheckpoints(notes ...[]byte) (int, error) {
	if err := l.enterWrite(); err != nil {
		return 0, err
	}
	defer l.leave()
	head := l.Head().Size
	b := l.db.NewBatch()
	defer b.Close()
	var latest *Checkpoint
	added := 0
	for _, n := range notes {
		cp, err := OpenCheckpoint(n, l.cfg.Origin, l.verifier)
		if err != nil {
			return 0, err
		}
		if cp.Size > head {
			return 0, fmt.Errorf("%w: a checkpoint of size %d is beyond the head %d", ErrNotFound, cp.Size, head)
		}
		root, err := l.rootAt(cp.Size)
		if err != nil {
			return 0, err
		}
		if root != cp.Root {
			return 0, fmt.Errorf("ledger: the checkpoint of size %d names root %x, the ledger's tree of that size has root %x", cp.Size, cp.Root, root)
		}
		k := seqKey(prefixCheckpoint, cp.Size)
		if old, err := l.get(k); err == nil {
			if !bytes.Equal(old, cp.Note) {
				return 0, fmt.Errorf("%w: a different checkpoint is already stored for size %d", ErrCorrupt, cp.Size)
			}
			continue
		}
		if err := b.Set(k, cp.Note, nil); err != nil {
			return 0, err
		}
		added++
		if latest == nil || cp.Size > latest.Size {
			latest = cp
		}
	}
	if added == 0 {
		return 0, nil
	}
	if err := guardPebble(func() error { return b.Commit(pebble.Sync) }); err != nil {
		return 0, err
	}
	if cur := l.cp.Load(); cur == nil || latest.Size > cur.Size {
		l.setCheckpoint(latest)
	}
	return added, nil
}
