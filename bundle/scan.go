package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/ledger"
)

// ScanEntry reads what the chain checks need from an entry's stored bytes:
// the ledger's members, which docs/format.md §1.1 fixes byte for byte at the
// start of every entry, and the record's case_id. It is the fast decoder
// behind Stream: it parses the prefix exactly and finds case_id without
// decoding the rest of the record, whose bytes are hashed, not interpreted.
// The returned Entry has Seq, RecordedAt, Prev, CaseSeq, CasePrev, CaseID
// and Bytes set (Bytes is b); ledger.DecodeEntry is the strict decoder.
func ScanEntry(b []byte) (*ledger.Entry, error) {
	e := &ledger.Entry{}
	if err := ScanEntryInto(e, b); err != nil {
		return nil, err
	}
	return e, nil
}

// ScanEntryInto is ScanEntry into e, which it overwrites whole: Stream
// scans into entries it reuses.
func ScanEntryInto(e *ledger.Entry, b []byte) error {
	*e = ledger.Entry{Bytes: b, DeviceSeq: -1}
	n, err := ledger.ScanPrefix(b, e)
	if err != nil {
		return err
	}
	p := b[n-1:] // from the comma before the first record member
	lit := func(s string) bool {
		if len(p) < len(s) || string(p[:len(s)]) != s {
			return false
		}
		p = p[len(s):]
		return true
	}
	if !lit(`,"`) || len(p) < 2 || p[len(p)-1] != '}' {
		return errors.New("no record members after the ledger's")
	}
	rec := p[:len(p)-1] // the record members, from the first name's first letter
	const caseKey = `case_id":"`
	switch {
	case bytes.HasPrefix(rec, []byte(caseKey)) && len(rec) > len(caseKey)+37 && rec[len(caseKey)+36] == '"':
		// Canonical order puts case_id first unless a name sorts before it.
		id, err := uuid.ParseBytes(rec[len(caseKey) : len(caseKey)+36])
		if err != nil {
			return fmt.Errorf("case_id: %v", err)
		}
		e.CaseID = id
	case e.CaseSeq > 0 || bytes.Contains(rec, []byte(`"case_id"`)):
		// Rare: decode the record to find a top-level case_id.
		var r struct {
			CaseID *string `json:"case_id"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("record members: %v", err)
		}
		if r.CaseID != nil {
			var err error
			if e.CaseID, err = uuid.Parse(*r.CaseID); err != nil {
				return fmt.Errorf("case_id: %v", err)
			}
		}
	}
	if (e.CaseID != uuid.Nil) != (e.CaseSeq > 0) {
		return errors.New("case_seq and case_prev must be present exactly when case_id is")
	}
	return nil
}

// lowerHex reports whether b is all lowercase hex digits.
func lowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
