package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// reservedFields are the members the ledger adds to a record to make an
// entry. A record may not carry them itself.
var reservedFields = [...]string{"v", "seq", "recorded_at", "prev", "case_seq", "case_prev"}

// A Record is a parsed, envelope-checked record as a device submits it
// (EVENTS.md §1). Records are immutable once parsed.
type Record struct {
	ID         uuid.UUID
	Type       string
	CaseID     uuid.UUID // uuid.Nil when the record has no case
	OccurredAt time.Time
	DeviceID   string
	DeviceSeq  int64 // -1 when the device sent no seq

	fields    map[string]any // decoded with UseNumber; shared, do not modify
	canonical []byte         // canonical JSON of the record
	digest    [32]byte       // SHA-256 of canonical: the content compared for duplicates
}

// HasCase reports whether the record belongs to a case.
func (r *Record) HasCase() bool { return r.CaseID != uuid.Nil }

// Fields returns the record as decoded JSON (objects as map[string]any,
// numbers as json.Number). The caller must not modify it.
func (r *Record) Fields() map[string]any { return r.fields }

// Canonical returns the canonical JSON encoding of the record: members sorted
// by key at every level, no insignificant white space, numbers as submitted.
// Two records are the same content exactly when their canonical forms are equal.
func (r *Record) Canonical() []byte { return r.canonical }

// Digest returns SHA-256 of Canonical.
func (r *Record) Digest() [32]byte { return r.digest }

// ParseRecord decodes and checks one record's envelope. The error, if any, is
// an *InvalidError. Type-specific rules (the event catalogue) are not checked
// here; the ledger stores any well-formed envelope.
func ParseRecord(raw []byte) (*Record, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxRecordSize {
		return nil, invalid(CodeTooLarge, "", "record is %d bytes, the limit is %d", len(raw), MaxRecordSize)
	}
	if len(raw) == 0 {
		return nil, invalid(CodeMalformedJSON, "", "empty record")
	}
	if !utf8.Valid(raw) {
		return nil, invalid(CodeMalformedJSON, "", "record is not valid UTF-8")
	}
	if raw[0] != '{' {
		return nil, invalid(CodeNotObject, "", "a record is a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, invalid(CodeMalformedJSON, "", "%v", err)
	}
	if dec.More() {
		return nil, invalid(CodeMalformedJSON, "", "data after the record's closing brace")
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalid(CodeMalformedJSON, "", "data after the record's closing brace")
	}
	return recordFromFields(m)
}

func recordFromFields(m map[string]any) (*Record, error) {
	for _, k := range reservedFields {
		if _, ok := m[k]; ok {
			return nil, invalid(CodeReservedField, k, "%q is added by the ledger and may not be submitted", k)
		}
	}
	r := &Record{fields: m, DeviceSeq: -1}
	var err error
	if r.ID, err = uuidField(m, "id", true); err != nil {
		return nil, err
	}
	typ, err := stringField(m, "type", true)
	if err != nil {
		return nil, err
	}
	if !validType(typ) {
		return nil, invalid(CodeInvalidField, "type", "type %q is not of the form area.action in lowercase ASCII", typ)
	}
	r.Type = typ
	if r.CaseID, err = uuidField(m, "case_id", false); err != nil {
		return nil, err
	}
	occ, err := stringField(m, "occurred_at", true)
	if err != nil {
		return nil, err
	}
	if r.OccurredAt, err = ParseTimestamp(occ); err != nil {
		return nil, invalid(CodeInvalidField, "occurred_at", "%v", err)
	}
	dv, ok := m["device"]
	if !ok {
		return nil, invalid(CodeMissingField, "device", "device {id, seq?} is required")
	}
	dm, ok := dv.(map[string]any)
	if !ok {
		return nil, invalid(CodeInvalidField, "device", "device must be an object")
	}
	if r.DeviceID, err = stringField(dm, "id", true); err != nil {
		err.(*InvalidError).Field = "device.id"
		return nil, err
	}
	if !validDeviceID(r.DeviceID) {
		return nil, invalid(CodeInvalidField, "device.id", "device id must be 1 to 128 printable characters")
	}
	if sv, ok := dm["seq"]; ok {
		n, ok := sv.(json.Number)
		if !ok {
			return nil, invalid(CodeInvalidField, "device.seq", "device.seq must be an integer")
		}
		s, perr := strconv.ParseInt(n.String(), 10, 64)
		if perr != nil || s < 0 {
			return nil, invalid(CodeInvalidField, "device.seq", "device.seq must be a non-negative integer, got %s", n)
		}
		r.DeviceSeq = s
	}
	if r.canonical, err = canonicalJSON(m); err != nil {
		return nil, invalid(CodeMalformedJSON, "", "%v", err)
	}
	r.digest = sha256.Sum256(r.canonical)
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

func stringField(m map[string]any, k string, required bool) (string, error) {
	v, ok := m[k]
	if !ok {
		if required {
			return "", invalid(CodeMissingField, k, "%s is required", k)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid(CodeInvalidField, k, "%s must be a string", k)
	}
	if s == "" && required {
		return "", invalid(CodeMissingField, k, "%s must not be empty", k)
	}
	return s, nil
}

func uuidField(m map[string]any, k string, required bool) (uuid.UUID, error) {
	s, err := stringField(m, k, required)
	if err != nil {
		return uuid.Nil, err
	}
	if s == "" && !required {
		if _, present := m[k]; present {
			return uuid.Nil, invalid(CodeInvalidField, k, "%s must be a UUID", k)
		}
		return uuid.Nil, nil
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

// canonicalJSON encodes v with object members sorted by key (byte order of
// their UTF-8), no insignificant white space, no HTML escaping, and numbers
// exactly as they were submitted.
func canonicalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // Encode appends a newline
}
