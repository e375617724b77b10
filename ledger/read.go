package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"iter"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// EntryAt returns the stored bytes of entry seq.
func (l *Ledger) EntryAt(seq uint64) ([]byte, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.leave()
	if seq >= l.Head().Size {
		return nil, fmt.Errorf("%w: seq %d", ErrNotFound, seq)
	}
	b, err := l.get(seqKey(prefixEntry, seq))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: entry %d is missing below the head", ErrCorrupt, seq)
	}
	return b, err
}

// SeqOf returns the seq of the entry with record id.
func (l *Ledger) SeqOf(id uuid.UUID) (uint64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.leave()
	v, err := l.get(idKey(id))
	if errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("%w: id %s", ErrNotFound, id)
	}
	if err != nil {
		return 0, err
	}
	if len(v) != l.idValueLen() {
		return 0, fmt.Errorf("%w: id index value for %s is %d bytes", ErrCorrupt, id, len(v))
	}
	s := be64(v)
	if s >= l.Head().Size {
		return 0, fmt.Errorf("%w: id %s", ErrNotFound, id)
	}
	return s, nil
}

// Entries yields the stored bytes of entries from seq from up to the durable
// head at the time of the call, in seq order. The bytes are valid only until
// the next iteration.
func (l *Ledger) Entries(from uint64) iter.Seq2[uint64, []byte] {
	end := l.Head().Size
	return func(yield func(uint64, []byte) bool) {
		if from >= end || l.enter() != nil {
			return
		}
		defer l.leave()
		it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: seqKey(prefixEntry, from), UpperBound: seqKey(prefixEntry, end)})
		if err != nil {
			return
		}
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			if !yield(be64(it.Key()[1:]), it.Value()) {
				return
			}
		}
	}
}

// CaseSeqs yields the seqs of a case's entries in case_seq order, starting
// at case_seq from (1-based). A read error ends the sequence early; the
// returned function reports it once the loop is over, so that a case is
// never shown short without saying so.
func (l *Ledger) CaseSeqs(c uuid.UUID, from uint64) (iter.Seq2[uint64, uint64], func() error) {
	end := l.Head().Size
	p := caseKey(c, 0)[:17]
	var err error
	seqs := func(yield func(caseSeq, seq uint64) bool) {
		if err = l.enter(); err != nil {
			return
		}
		defer l.leave()
		it, ierr := l.db.NewIter(&pebble.IterOptions{LowerBound: caseKey(c, max(from, 1)), UpperBound: prefixEnd(p)})
		if ierr != nil {
			err = ierr
			return
		}
		defer func() {
			if cerr := it.Close(); err == nil {
				err = cerr
			}
		}()
		for ok := it.First(); ok; ok = it.Next() {
			v := it.Value()
			if len(v) != 40 {
				err = fmt.Errorf("%w: case index value for %s is %d bytes", ErrCorrupt, c, len(v))
				return
			}
			seq := be64(v)
			if seq >= end {
				return
			}
			if !yield(be64(it.Key()[17:]), seq) {
				return
			}
		}
		err = it.Error()
	}
	return seqs, func() error { return err }
}

// DeviceEntry is one entry of a device, by the device index.
type DeviceEntry struct {
	Seq       uint64 // ledger seq
	DeviceSeq int64  // device.seq as submitted, -1 when absent
}

// DeviceSeqs yields a device's entries in ledger order, starting at ledger
// seq from. A read error ends the sequence early; the returned function
// reports it once the loop is over.
func (l *Ledger) DeviceSeqs(device string, from uint64) (iter.Seq[DeviceEntry], func() error) {
	end := l.Head().Size
	p := devicePrefix(device)
	var err error
	seqs := func(yield func(DeviceEntry) bool) {
		if err = l.enter(); err != nil {
			return
		}
		defer l.leave()
		it, ierr := l.db.NewIter(&pebble.IterOptions{LowerBound: deviceKey(device, from), UpperBound: prefixEnd(p)})
		if ierr != nil {
			err = ierr
			return
		}
		defer func() {
			if cerr := it.Close(); err == nil {
				err = cerr
			}
		}()
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if !bytes.HasPrefix(k, p) || len(k) != len(p)+8 {
				continue
			}
			seq := be64(k[len(p):])
			if seq >= end {
				return
			}
			v := it.Value()
			if len(v) != 8 {
				err = fmt.Errorf("%w: device index value for %q at seq %d is %d bytes", ErrCorrupt, device, seq, len(v))
				return
			}
			if !yield(DeviceEntry{Seq: seq, DeviceSeq: int64(be64(v)) - 1}) {
				return
			}
		}
		err = it.Error()
	}
	return seqs, func() error { return err }
}
