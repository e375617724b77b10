package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
)

// MaxRecordSize is the largest record, in bytes of JSON as submitted, that
// the ledger accepts (EVENTS.md §1).
const MaxRecordSize = 64 << 10

// Codes carried by *InvalidError. They are stable: the HTTP API returns them
// verbatim.
const (
	CodeMalformedJSON = "malformed_json"
	CodeTooLarge      = "too_large"
	CodeNotObject     = "not_object"
	CodeMissingField  = "missing_field"
	CodeInvalidField  = "invalid_field"
	CodeReservedField = "reserved_field"
)

// InvalidError reports a record whose envelope is broken. It fails only that
// record, never its batch.
type InvalidError struct {
	Code   string // one of the Code* constants
	Field  string // the offending field, "" for the record as a whole
	Detail string // a human-readable explanation
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("ledger: invalid record: %s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("ledger: invalid record: %s: %s: %s", e.Code, e.Field, e.Detail)
}

func invalid(code, field, format string, args ...any) *InvalidError {
	return &InvalidError{Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// A Record is a parsed, envelope-checked record as a device submits it
// (EVENTS.md §1). Records are immutable once parsed and safe to share.
type Record struct {
	ID         uuid.UUID
	Type       string
	CaseID     uuid.UUID // uuid.Nil when the record has no case
	OccurredAt time.Time
	DeviceID   string
	DeviceSeq  int64 // -1 when the device sent no seq

	canonical []byte // RFC 8785 canonical JSON of the record
}

// HasCase reports whether the record belongs to a case.
func (r *Record) HasCase() bool { return r.CaseID != uuid.Nil }

// Canonical returns the record in RFC 8785 (JCS) canonical form: members
// sorted, no insignificant white space, minimal string escapes, numbers in
// their shortest IEEE 754 form. Two records are the same content exactly when
// their canonical forms are equal.
func (r *Record) Canonical() []byte { return r.canonical }

// Digest returns SHA-256 of Canonical.
func (r *Record) Digest() [32]byte { return sha256.Sum256(r.canonical) }

// ParseRecord decodes and checks one record's envelope. The error, if any, is
// an *InvalidError. Type-specific rules (the event catalogue) are not checked
// here; the ledger stores any well-formed envelope.
//
// The record must be an I-JSON object (RFC 7493): valid UTF-8, no duplicate
// member names, and numbers exactly representable as IEEE 754 doubles, so
// that its RFC 8785 canonical form means exactly what was submitted.
func ParseRecord(raw []byte) (*Record, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxRecordSize {
		return nil, invalid(CodeTooLarge, "", "record is %d bytes, the limit is %d", len(raw), MaxRecordSize)
	}
	if len(raw) == 0 {
		return nil, invalid(CodeMalformedJSON, "", "empty record")
	}
	if raw[0] != '{' {
		return nil, invalid(CodeNotObject, "", "a record is a JSON object")
	}
	if !hasLongDigitRun(raw) {
		// No integer can exceed 2^53 (16 digits): one pass of RFC 8785,
		// over the tape when jsonview can write it.
		if c, ok := appendCanonical(make([]byte, 0, len(raw)+16), raw); ok {
			return recordFromCanonical(c)
		}
		c := jsontext.Value(bytes.Clone(raw))
		if err := c.Canonicalize(); err != nil {
			return nil, invalid(CodeMalformedJSON, "", "%v", err)
		}
		return recordFromCanonical(c)
	}
	c := jsontext.Value(bytes.Clone(raw))
	if err := c.Canonicalize(jsontext.CanonicalizeRawInts(false)); err != nil {
		return nil, invalid(CodeMalformedJSON, "", "%v", err)
	}
	// Integers beyond ±2^53 would change under RFC 8785; refuse them rather
	// than store a different number.
	exact := jsontext.Value(bytes.Clone(c))
	if err := exact.Canonicalize(); err != nil || !bytes.Equal(exact, c) {
		return nil, invalid(CodeInvalidField, "", "a number is not exactly representable as an IEEE 754 double (RFC 8785); send large integers as strings")
	}
	return recordFromCanonical(c)
}

// envelope holds the members the ledger reads, still encoded.
type envelope struct {
	ID         jsontext.Value `json:"id"`
	Type       jsontext.Value `json:"type"`
	CaseID     jsontext.Value `json:"case_id"`
	OccurredAt jsontext.Value `json:"occurred_at"`
	Device     jsontext.Value `json:"device"`

	// The ledger's own members, present only in entries.
	V          jsontext.Value `json:"v"`
	Seq        jsontext.Value `json:"seq"`
	RecordedAt jsontext.Value `json:"recorded_at"`
	Prev       jsontext.Value `json:"prev"`
	CaseSeq    jsontext.Value `json:"case_seq"`
	CasePrev   jsontext.Value `json:"case_prev"`
}

func (e *envelope) reserved() string {
	for _, f := range []struct {
		name string
		v    jsontext.Value
	}{{"v", e.V}, {"seq", e.Seq}, {"recorded_at", e.RecordedAt}, {"prev", e.Prev}, {"case_seq", e.CaseSeq}, {"case_prev", e.CasePrev}} {
		if f.v != nil {
			return f.name
		}
	}
	return ""
}

// recordFromCanonical checks the envelope of a record already in canonical
// form.
func recordFromCanonical(c []byte) (*Record, error) {
	var env envelope
	if err := scanEnvelope(c, &env); err != nil {
		return nil, invalid(CodeMalformedJSON, "", "%v", err)
	}
	if k := env.reserved(); k != "" {
		return nil, invalid(CodeReservedField, k, "%q is added by the ledger and may not be submitted", k)
	}
	r := &Record{DeviceSeq: -1, canonical: c}
	var err error
	if r.ID, err = uuidField(env.ID, "id", true); err != nil {
		return nil, err
	}
	typ, err := stringFieldIn(recordTypes, env.Type, "type", true)
	if err != nil {
		return nil, err
	}
	if !validType(typ) {
		return nil, invalid(CodeInvalidField, "type", "type %q is not of the form area.action in lowercase ASCII", typ)
	}
	r.Type = typ
	if r.CaseID, err = uuidField(env.CaseID, "case_id", false); err != nil {
		return nil, err
	}
	occ, err := stringField(env.OccurredAt, "occurred_at", true)
	if err != nil {
		return nil, err
	}
	if r.OccurredAt, err = ParseTimestamp(occ); err != nil {
		return nil, invalid(CodeInvalidField, "occurred_at", "%v", err)
	}
	if env.Device == nil {
		return nil, invalid(CodeMissingField, "device", "device {id, seq?} is required")
	}
	if r.DeviceID, r.DeviceSeq, err = scanDevice(env.Device); err != nil {
		return nil, err
	}
	if !validDeviceID(r.DeviceID) {
		return nil, invalid(CodeInvalidField, "device.id", "device id must be 1 to 128 printable characters")
	}
	return r, nil
}

// ParseTimestamp parses an RFC 3339 timestamp that carries an explicit offset
// ("Z" or ±hh:mm), as required of occurred_at.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 timestamp with an offset", s)
	}
	return t, nil
}

// stringField decodes a JSON string member; absent is "" (an error if
// required).
func stringField(v jsontext.Value, k string, required bool) (string, error) {
	return stringFieldIn(nil, v, k, required)
}

// stringFieldIn is stringField taking a plain string's value from in when in
// is not nil.
func stringFieldIn(in *interner, v jsontext.Value, k string, required bool) (string, error) {
	if v == nil {
		if required {
			return "", invalid(CodeMissingField, k, "%s is required", k)
		}
		return "", nil
	}
	if v.Kind() != '"' || len(v) < 2 || v[len(v)-1] != '"' {
		return "", invalid(CodeInvalidField, k, "%s must be a string", k)
	}
	if plainString(v) {
		if len(v) == 2 && required {
			return "", invalid(CodeMissingField, k, "%s must not be empty", k)
		}
		if in != nil {
			return in.get(v[1 : len(v)-1]), nil
		}
		return string(v[1 : len(v)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return "", invalid(CodeInvalidField, k, "%s: %v", k, err)
	}
	if len(b) == 0 && required {
		return "", invalid(CodeMissingField, k, "%s must not be empty", k)
	}
	return string(b), nil
}

func uuidField(v jsontext.Value, k string, required bool) (uuid.UUID, error) {
	if v == nil && !required {
		return uuid.Nil, nil
	}
	// The usual case, a plain lowercase UUID, without allocating.
	if len(v) == 38 && v[0] == '"' && v[37] == '"' && lowerUUID(v[1:37]) {
		if u, err := uuid.ParseBytes(v[1:37]); err == nil && u != uuid.Nil {
			return u, nil
		}
	}
	s, err := stringField(v, k, true)
	if err != nil {
		return uuid.Nil, err
	}
	// Only the canonical lowercase 8-4-4-4-12 form: the same id must always be
	// spelled the same way, or a retry could be taken for a conflict.
	u, perr := uuid.Parse(s)
	if perr != nil || len(s) != 36 || strings.ToLower(s) != s || u == uuid.Nil {
		return uuid.Nil, invalid(CodeInvalidField, k, "%s must be a non-nil UUID in lowercase 8-4-4-4-12 form, got %q", k, s)
	}
	return u, nil
}

func validType(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		case c == '.' && i > 0 && i < len(s)-1 && s[i-1] != '.':
			dot = true
		default:
			return false
		}
	}
	return dot
}

func validDeviceID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// hasLongDigitRun reports whether b holds 16 or more consecutive ASCII
// digits anywhere (in a number or in a string, such as an ID number): only
// then can an integer be too large for a double.
//
// Sixteen consecutive bytes always cover one whole eight-byte word at an
// offset divisible by eight, so words that are not all digits are passed
// over eight bytes at a time; the run is counted byte by byte only around
// a word that is.
func hasLongDigitRun(b []byte) bool {
	const lo, hi, add = 0x3030303030303030, 0x8080808080808080, 0x4646464646464646
	for i := 0; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// Every byte below 0x80, at least '0' (no borrow crosses a byte:
		// each has its high bit set before the subtraction) and at most
		// '9' (adding 0x46 sets the high bit of a byte above 0x39, and no
		// carry leaves a byte below 0x80).
		if x&hi == 0 && ((x|hi)-lo)&hi == hi && (x+add)&hi == 0 {
			if digitRun(b, i) >= 16 {
				return true
			}
		}
	}
	return false
}

// digitRun returns the length of the run of ASCII digits through b[i].
func digitRun(b []byte, i int) int {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	s, e := i, i
	for s > 0 && isDigit(b[s-1]) {
		s--
	}
	for e < len(b) && isDigit(b[e]) {
		e++
	}
	return e - s
}

// plainString reports whether a quoted JSON string has no escapes and no
// control characters, so that its contents are its value.
// lowerUUID reports whether b is in the lowercase 8-4-4-4-12 form.
func lowerUUID(b []byte) bool {
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if hexVal[c] == 0xff {
				return false
			}
		}
	}
	return len(b) == 36
}

func plainString(v []byte) bool {
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c < 0x20 || c == '"' {
			return false
		}
	}
	return utf8.Valid(v)
}
