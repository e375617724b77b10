package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// FormatVersion is the value of an entry's "v" member.
const FormatVersion = 1

// RecordedAtLayout is the exact layout of an entry's "recorded_at": UTC with
// microseconds, always 27 bytes.
const RecordedAtLayout = "2006-01-02T15:04:05.000000Z"

// Hash is a SHA-256 hash as used by RFC 6962 and golang.org/x/mod/sumdb/tlog.
type Hash = tlog.Hash

// LeafHash returns the RFC 6962 leaf hash of an entry's stored bytes:
// SHA-256(0x00 || entry).
func LeafHash(entry []byte) Hash { return tlog.RecordHash(entry) }

// An Entry is a record as the ledger stores it: the record's members plus the
// ledger's own (docs/format.md). Bytes holds the exact stored, hashed bytes.
type Entry struct {
	Seq        uint64
	RecordedAt time.Time
	Prev       Hash   // leaf hash of entry Seq-1; zero for entry 0
	CaseSeq    uint64 // 1-based position within the case; 0 when there is no case
	CasePrev   Hash   // leaf hash of the case's previous entry; zero for its first

	ID        uuid.UUID
	Type      string
	CaseID    uuid.UUID // uuid.Nil when the entry has no case
	DeviceID  string
	DeviceSeq int64 // -1 when absent

	Bytes []byte
}

// Hash returns the entry's leaf hash.
func (e *Entry) Hash() Hash { return LeafHash(e.Bytes) }

// encodeEntry builds the stored bytes: the ledger's members in a fixed order,
// then the record's canonical members. See docs/format.md.
func encodeEntry(dst []byte, seq uint64, recordedAt time.Time, prev Hash, caseSeq uint64, casePrev Hash, canonicalRecord []byte) []byte {
	dst = append(dst, `{"v":1,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"recorded_at":"`...)
	dst = recordedAt.UTC().AppendFormat(dst, RecordedAtLayout)
	dst = append(dst, `","prev":"`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, '"')
	if caseSeq > 0 {
		dst = append(dst, `,"case_seq":`...)
		dst = strconv.AppendUint(dst, caseSeq, 10)
		dst = append(dst, `,"case_prev":"`...)
		dst = hex.AppendEncode(dst, casePrev[:])
		dst = append(dst, '"')
	}
	dst = append(dst, ',')
	return append(dst, canonicalRecord[1:]...) // the record's members and its closing brace
}

// header is the part of an entry that verification needs, decoded without
// building a map of the whole entry.
type header struct {
	V          *int             `json:"v"`
	Seq        *uint64          `json:"seq"`
	RecordedAt string           `json:"recorded_at"`
	Prev       string           `json:"prev"`
	CaseSeq    *uint64          `json:"case_seq"`
	CasePrev   string           `json:"case_prev"`
	ID         string           `json:"id"`
	Type       string           `json:"type"`
	CaseID     string           `json:"case_id"`
	Device     *json.RawMessage `json:"device"`
}

// DecodeEntry parses stored entry bytes strictly: the ledger's members must
// be well formed and the whole entry must be exactly the canonical encoding
// the ledger writes, so that what decodes re-encodes to the same bytes. The
// returned Entry keeps a reference to b.
func DecodeEntry(b []byte) (*Entry, error) {
	rec, e, err := decodeEntryFields(b)
	if err != nil {
		return nil, err
	}
	want := encodeEntry(make([]byte, 0, len(b)), e.Seq, e.RecordedAt, e.Prev, e.CaseSeq, e.CasePrev, rec.canonical)
	if !bytes.Equal(want, b) {
		return nil, fmt.Errorf("ledger: entry %d is not in canonical form", e.Seq)
	}
	return e, nil
}

func decodeEntryFields(b []byte) (*Record, *Entry, error) {
	if len(b) == 0 || b[0] != '{' {
		return nil, nil, fmt.Errorf("ledger: entry is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("ledger: entry: %v", err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("ledger: entry: data after the closing brace")
	}
	var e Entry
	v, err := uintMember(m, "v")
	if err != nil {
		return nil, nil, err
	}
	if v != FormatVersion {
		return nil, nil, fmt.Errorf("ledger: entry format version %d, this build reads %d", v, FormatVersion)
	}
	if e.Seq, err = uintMember(m, "seq"); err != nil {
		return nil, nil, err
	}
	ra, ok := m["recorded_at"].(string)
	if !ok {
		return nil, nil, fmt.Errorf("ledger: entry %d: recorded_at missing", e.Seq)
	}
	if e.RecordedAt, err = time.Parse(RecordedAtLayout, ra); err != nil {
		return nil, nil, fmt.Errorf("ledger: entry %d: recorded_at: %v", e.Seq, err)
	}
	if e.Prev, err = hashMember(m, "prev"); err != nil {
		return nil, nil, fmt.Errorf("ledger: entry %d: %v", e.Seq, err)
	}
	_, hasCaseSeq := m["case_seq"]
	if hasCaseSeq {
		if e.CaseSeq, err = uintMember(m, "case_seq"); err != nil {
			return nil, nil, err
		}
		if e.CaseSeq == 0 {
			return nil, nil, fmt.Errorf("ledger: entry %d: case_seq is 1-based", e.Seq)
		}
		if e.CasePrev, err = hashMember(m, "case_prev"); err != nil {
			return nil, nil, fmt.Errorf("ledger: entry %d: %v", e.Seq, err)
		}
	} else if _, ok := m["case_prev"]; ok {
		return nil, nil, fmt.Errorf("ledger: entry %d: case_prev without case_seq", e.Seq)
	}
	for _, k := range reservedFields {
		delete(m, k)
	}
	rec, err := recordFromFields(m)
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: entry %d: %v", e.Seq, err)
	}
	if rec.HasCase() != hasCaseSeq {
		return nil, nil, fmt.Errorf("ledger: entry %d: case_seq must be present exactly when case_id is", e.Seq)
	}
	e.ID, e.Type, e.CaseID, e.DeviceID, e.DeviceSeq = rec.ID, rec.Type, rec.CaseID, rec.DeviceID, rec.DeviceSeq
	e.Bytes = b
	return rec, &e, nil
}

func uintMember(m map[string]any, k string) (uint64, error) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("ledger: entry: %s missing or not a number", k)
	}
	u, err := strconv.ParseUint(n.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ledger: entry: %s: %v", k, err)
	}
	return u, nil
}

func hashMember(m map[string]any, k string) (Hash, error) {
	s, ok := m[k].(string)
	if !ok {
		return Hash{}, fmt.Errorf("%s missing or not a string", k)
	}
	return parseHex(s)
}

func parseHex(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, fmt.Errorf("hash %q is not 64 hex digits", s)
	}
	for i := 0; i < 64; i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return h, fmt.Errorf("hash %q is not lowercase hex", s)
		}
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

// ParseHash parses a 64-digit lowercase hex hash.
func ParseHash(s string) (Hash, error) { return parseHex(s) }

// Hex returns h as 64 lowercase hex digits.
func Hex(h Hash) string { return hex.EncodeToString(h[:]) }

// fastHeader decodes only what verification needs. It is faster than
// DecodeEntry and does not check canonical form.
func fastHeader(b []byte) (*Entry, error) {
	var h header
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("entry is not valid JSON: %v", err)
	}
	if h.V == nil || *h.V != FormatVersion || h.Seq == nil {
		return nil, fmt.Errorf("entry has no valid v or seq")
	}
	e := &Entry{Seq: *h.Seq, Type: h.Type, Bytes: b, DeviceSeq: -1}
	var err error
	if e.RecordedAt, err = time.Parse(RecordedAtLayout, h.RecordedAt); err != nil {
		return nil, fmt.Errorf("recorded_at: %v", err)
	}
	if e.Prev, err = parseHex(h.Prev); err != nil {
		return nil, fmt.Errorf("prev: %v", err)
	}
	if e.ID, err = uuid.Parse(h.ID); err != nil {
		return nil, fmt.Errorf("id: %v", err)
	}
	if h.CaseID != "" {
		if e.CaseID, err = uuid.Parse(h.CaseID); err != nil {
			return nil, fmt.Errorf("case_id: %v", err)
		}
		if h.CaseSeq == nil || *h.CaseSeq == 0 {
			return nil, fmt.Errorf("case_seq missing for an entry with a case")
		}
		e.CaseSeq = *h.CaseSeq
		if e.CasePrev, err = parseHex(h.CasePrev); err != nil {
			return nil, fmt.Errorf("case_prev: %v", err)
		}
	} else if h.CaseSeq != nil || h.CasePrev != "" {
		return nil, fmt.Errorf("case_seq or case_prev without case_id")
	}
	if h.Device != nil {
		var d struct {
			ID  string `json:"id"`
			Seq *int64 `json:"seq"`
		}
		if err := json.Unmarshal(*h.Device, &d); err != nil {
			return nil, fmt.Errorf("device: %v", err)
		}
		e.DeviceID = d.ID
		if d.Seq != nil {
			e.DeviceSeq = *d.Seq
		}
	}
	return e, nil
}
