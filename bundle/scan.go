package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	p := b
	lit := func(s string) bool {
		if len(p) < len(s) || string(p[:len(s)]) != s {
			return false
		}
		p = p[len(s):]
		return true
	}
	num := func() (uint64, bool) {
		i := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i == 0 || i > 1 && p[0] == '0' || i > 19 {
			return 0, false
		}
		var n uint64
		for _, c := range p[:i] {
			n = n*10 + uint64(c-'0')
		}
		p = p[i:]
		return n, true
	}
	hash := func(h *ledger.Hash) bool {
		if len(p) < 65 || p[64] != '"' || !decodeLowerHex(h, p[:64]) {
			return false
		}
		p = p[65:]
		return true
	}
	var ok bool
	if !lit(`{"v":1,"seq":`) {
		return errors.New(`does not start with {"v":1,"seq": and a number`)
	}
	if e.Seq, ok = num(); !ok {
		return errors.New("seq is not a decimal integer")
	}
	if !lit(`,"recorded_at":"`) || len(p) < len(ledger.RecordedAtLayout)+1 {
		return errors.New("recorded_at missing after seq")
	}
	ts := p[:len(ledger.RecordedAtLayout)]
	p = p[len(ts):]
	t, ok := parseRecordedAt(ts)
	if !ok {
		return fmt.Errorf("recorded_at %q is not YYYY-MM-DDTHH:MM:SS.ffffffZ", ts)
	}
	e.RecordedAt = t
	if !lit(`","prev":"`) || !hash(&e.Prev) {
		return errors.New("prev is not 64 lowercase hex digits")
	}
	if lit(`,"case_seq":`) {
		if e.CaseSeq, ok = num(); !ok || e.CaseSeq == 0 {
			return errors.New("case_seq is not a positive integer")
		}
		if !lit(`,"case_prev":"`) || !hash(&e.CasePrev) {
			return errors.New("case_prev is not 64 lowercase hex digits")
		}
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

// parseRecordedAt parses exactly ledger.RecordedAtLayout.
func parseRecordedAt(b []byte) (time.Time, bool) {
	const layout = "dddd-dd-ddTdd:dd:dd.ddddddZ"
	if len(b) != len(layout) {
		return time.Time{}, false
	}
	for i := range len(layout) {
		if layout[i] == 'd' {
			if b[i] < '0' || b[i] > '9' {
				return time.Time{}, false
			}
		} else if b[i] != layout[i] {
			return time.Time{}, false
		}
	}
	n := func(i, j int) int {
		v := 0
		for _, c := range b[i:j] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, s, us := n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19), n(20, 26)
	// Only real timestamps: time.Date would normalise the others.
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, us*1000, time.UTC), true
}

// daysIn returns the number of days of month mo (1 to 12) of year y.
func daysIn(mo, y int) int {
	switch mo {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// hexVal maps lowercase hex digits to their value and every other byte to
// 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return
}()

// decodeLowerHex decodes 64 lowercase hex digits into h; false if src is
// anything else (h is then undefined).
func decodeLowerHex(h *ledger.Hash, src []byte) bool {
	if len(src) != 2*len(h) {
		return false
	}
	var bad byte
	for i := range h {
		hi, lo := hexVal[src[2*i]], hexVal[src[2*i+1]]
		bad |= hi | lo
		h[i] = hi<<4 | lo&0x0f
	}
	return bad&0xf0 == 0
}

// lowerHex reports whether b is all lowercase hex digits.
func lowerHex(b []byte) bool {
	for _, c := range b {
		if hexVal[c] == 0xff {
			return false
		}
	}
	return true
}
