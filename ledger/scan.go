package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/liuhen/liuhen/internal/jsonscan"
)

// This file decodes the few members the ledger reads from a record or an
// entry without decoding the rest. Verification and every reader of the
// stream scan every entry, so this is their hot path.

// scanEnvelope fills env from a JSON object, keeping each wanted member's
// raw value (a sub-slice of obj). Other members are skipped by structure
// only: their bytes are hashed, not interpreted. A wanted member that
// appears twice is an error.
func scanEnvelope(obj []byte, env *envelope) error {
	return scanObject(obj, env.member)
}

// member keeps the wanted members for scanEnvelope.
func (env *envelope) member(k, v []byte) error {
	var dst *jsontext.Value
	switch string(k) {
	case `"id"`:
		dst = &env.ID
	case `"type"`:
		dst = &env.Type
	case `"case_id"`:
		dst = &env.CaseID
	case `"occurred_at"`:
		dst = &env.OccurredAt
	case `"device"`:
		dst = &env.Device
	case `"v"`:
		dst = &env.V
	case `"seq"`:
		dst = &env.Seq
	case `"recorded_at"`:
		dst = &env.RecordedAt
	case `"prev"`:
		dst = &env.Prev
	case `"case_seq"`:
		dst = &env.CaseSeq
	case `"case_prev"`:
		dst = &env.CasePrev
	default:
		return nil
	}
	if *dst != nil {
		return fmt.Errorf("member %s appears twice", k)
	}
	*dst = v
	return nil
}

// scanDevice decodes a device object's id and seq.
func scanDevice(v jsontext.Value) (id string, seq int64, err error) {
	var env envelope // reuses the "id" and "seq" slots
	if v.Kind() != '{' {
		return "", 0, invalid(CodeInvalidField, "device", "device must be an object")
	}
	if err := scanEnvelope(v, &env); err != nil {
		return "", 0, invalid(CodeInvalidField, "device", "%v", err)
	}
	if id, err = stringFieldIn(deviceIDs, env.ID, "device.id", true); err != nil {
		return "", 0, err
	}
	seq = -1
	if env.Seq != nil {
		s, perr := strconv.ParseInt(string(env.Seq), 10, 64)
		if perr != nil || s < 0 {
			return "", 0, invalid(CodeInvalidField, "device.seq", "device.seq must be a non-negative integer, got %s", env.Seq)
		}
		seq = s
	}
	return id, seq, nil
}

// scanObject calls f with each member of the JSON object b: the name with
// its quotes, and the value as raw bytes. It checks the structure it needs
// to find where each value ends, no more: use it on canonical records
// (jsontext has validated them) and on stored entries (whose bytes the hash
// chain protects). Bad input is an error, never a panic.
func scanObject(b []byte, f func(k, v []byte) error) error {
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	return scanMembers(b, i, f)
}

// scanMembers scans an object's members from b[i], the first member's name,
// to the object's closing brace.
func scanMembers(b []byte, i int, f func(k, v []byte) error) error {
	for {
		if i >= len(b) || b[i] != '"' {
			return errors.New("bad member name")
		}
		end, err := jsonscan.SkipValue(b, i)
		if err != nil {
			return err
		}
		k := b[i:end]
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("missing ':'")
		}
		i = jsonscan.SkipSpace(b, i+1)
		if end, err = jsonscan.SkipValue(b, i); err != nil {
			return err
		}
		if err := f(k, b[i:end]); err != nil {
			return err
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) {
			return errors.New("unterminated object")
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errors.New("missing ',' or '}'")
		}
	}
}

func trailing(b []byte, i int) error {
	if jsonscan.SkipSpace(b, i) != len(b) {
		return errors.New("data after the object")
	}
	return nil
}

// parsePrefix reads the ledger's members, which every entry starts with in
// a fixed order and form (docs/format.md §1.1), and returns the offset of
// the first record member. It accepts exactly that form: integers without
// sign or leading zeros, hashes as 64 lowercase hex digits, recorded_at as
// RecordedAtLayout naming a real instant.
func parsePrefix(b []byte, e *Entry) (int, error) { return ScanPrefix(b, e) }

// ScanPrefix is parsePrefix for the other fast readers of entries (bundle):
// it sets e's Seq, RecordedAt, Prev, CaseSeq and CasePrev, and returns the
// offset of the first record member.
func ScanPrefix(b []byte, e *Entry) (int, error) {
	i := 0
	lit := func(s string) bool {
		if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
			return false
		}
		i += len(s)
		return true
	}
	num := func() (uint64, bool) {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j-i > 1 && b[i] == '0' || j-i > 19 {
			return 0, false
		}
		var n uint64
		for _, c := range b[i:j] {
			n = n*10 + uint64(c-'0')
		}
		i = j
		return n, true
	}
	hash := func(h *Hash) bool {
		if len(b)-i < 65 || b[i+64] != '"' || !decodeLowerHex(h, b[i:i+64]) {
			return false
		}
		i += 65
		return true
	}
	var ok bool
	if !lit(`{"v":1,"seq":`) {
		return 0, errors.New(`entry does not start with {"v":1,"seq": and a number`)
	}
	if e.Seq, ok = num(); !ok {
		return 0, fmt.Errorf("seq at byte %d is not a canonical decimal integer", i)
	}
	if !lit(`,"recorded_at":"`) || len(b)-i < len(RecordedAtLayout) {
		return 0, errors.New("recorded_at missing after seq")
	}
	ts := b[i : i+len(RecordedAtLayout)]
	if e.RecordedAt, ok = parseRecordedAt(ts); !ok {
		return 0, fmt.Errorf("recorded_at %q is not %s", ts, RecordedAtLayout)
	}
	i += len(ts)
	if !lit(`","prev":"`) || !hash(&e.Prev) {
		return 0, errors.New("prev is not 64 lowercase hex digits")
	}
	if lit(`,"case_seq":`) {
		if e.CaseSeq, ok = num(); !ok || e.CaseSeq == 0 {
			return 0, errors.New("case_seq is not a positive canonical integer (it is 1-based)")
		}
		if !lit(`,"case_prev":"`) || !hash(&e.CasePrev) {
			return 0, errors.New("case_prev is not 64 lowercase hex digits")
		}
	}
	if !lit(`,`) {
		return 0, fmt.Errorf("entry does not have \",\" at byte %d after the ledger's members", i)
	}
	return i, nil
}

// parseRecordedAt parses exactly RecordedAtLayout (2006-01-02T15:04:05.000000Z),
// and only real instants: no 30 February, no hour 24.
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
func decodeLowerHex(h *Hash, src []byte) bool {
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
