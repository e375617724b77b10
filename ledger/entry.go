package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
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

	recOff int // offset of the first record member, when parsePrefix read it
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

// DecodeEntry parses stored entry bytes strictly: the ledger's members must
// be well formed and come first in their fixed order, and the record members
// must be exactly the canonical form of a valid record, so that what decodes
// re-encodes to the same bytes. The returned Entry keeps a reference to b.
func DecodeEntry(b []byte) (*Entry, error) {
	e, err := ScanEntry(b)
	if err != nil {
		return nil, fmt.Errorf("ledger: entry: %v", err)
	}
	prefix := encodeEntry(make([]byte, 0, 256), e.Seq, e.RecordedAt, e.Prev, e.CaseSeq, e.CasePrev, []byte("{}"))
	prefix = prefix[:len(prefix)-1] // up to and including the comma before the record's members
	if !bytes.HasPrefix(b, prefix) || len(b) <= len(prefix) {
		return nil, fmt.Errorf("ledger: entry %d: the ledger's members are not first, in order, in canonical form", e.Seq)
	}
	rec := append([]byte{'{'}, b[len(prefix):]...)
	r, err := ParseRecord(rec)
	if err != nil {
		return nil, fmt.Errorf("ledger: entry %d: record: %v", e.Seq, err)
	}
	if !bytes.Equal(r.canonical, rec) {
		return nil, fmt.Errorf("ledger: entry %d: the record members are not in canonical form", e.Seq)
	}
	if r.HasCase() != (e.CaseSeq > 0) {
		return nil, fmt.Errorf("ledger: entry %d: case_seq must be present exactly when case_id is", e.Seq)
	}
	return e, nil
}

// recordDigest returns SHA-256 of the canonical record inside an entry,
// assuming the entry is in canonical form (the id index stores it). ok is
// false if the ledger's members are not where the format puts them.
func recordDigest(e *Entry) (d [32]byte, ok bool) { return recordDigestWith(nil, e) }

// recordDigestWith is recordDigest hashing with h (reset first) when it is
// not nil: Verify's workers keep one each rather than allocate one per entry.
func recordDigestWith(h hash.Hash, e *Entry) (d [32]byte, ok bool) {
	if e.recOff > 0 {
		// parsePrefix accepted exactly the fixed form of the ledger's
		// members (docs/format.md §1.1) and says where they end: no need
		// to render them again to find the record.
		if h == nil {
			h = sha256.New()
		} else {
			h.Reset()
		}
		h.Write([]byte{'{'})
		h.Write(e.Bytes[e.recOff:])
		h.Sum(d[:0])
		return d, true
	}
	prefix := encodeEntry(make([]byte, 0, 256), e.Seq, e.RecordedAt, e.Prev, e.CaseSeq, e.CasePrev, []byte("{}"))
	prefix = prefix[:len(prefix)-1]
	if !bytes.HasPrefix(e.Bytes, prefix) {
		return d, false
	}
	if h == nil {
		h = sha256.New()
	} else {
		h.Reset()
	}
	h.Write([]byte{'{'})
	h.Write(e.Bytes[len(prefix):])
	h.Sum(d[:0])
	return d, true
}

// ScanEntry decodes what verification and the readers of the stream need,
// without checking that the record members are in canonical form
// (DecodeEntry does that, and costs a canonicalization): the ledger's members
// from their fixed-form prefix (docs/format.md §1.1), and id, type, case_id
// and device from the record members. It is the fast decoder for hot paths;
// FuzzDecodeEntry holds it to DecodeEntry on every entry DecodeEntry accepts.
func ScanEntry(b []byte) (*Entry, error) {
	e := new(Entry)
	if err := scanEntryInto(b, e); err != nil {
		return nil, err
	}
	return e, nil
}

// scanEntryInto is ScanEntry into e, for callers that keep entries in a
// slice rather than one allocation each.
func scanEntryInto(b []byte, e *Entry) error {
	*e = Entry{Bytes: b, DeviceSeq: -1}
	n, err := parsePrefix(b, e)
	if err != nil {
		return err
	}
	e.recOff = n
	var env envelope
	if err := scanMembers(b, n, env.member); err != nil {
		return fmt.Errorf("record members: %v", err)
	}
	if k := env.reserved(); k != "" {
		return fmt.Errorf("ledger member %q repeated among the record members", k)
	}
	if e.ID, err = uuidField(env.ID, "id", true); err != nil {
		return err
	}
	if e.Type, err = stringFieldIn(recordTypes, env.Type, "type", true); err != nil {
		return err
	}
	if e.CaseID, err = uuidField(env.CaseID, "case_id", false); err != nil {
		return err
	}
	if (e.CaseID != uuid.Nil) != (e.CaseSeq > 0) {
		return fmt.Errorf("case_seq and case_prev must be present exactly when case_id is")
	}
	if env.Device != nil {
		if e.DeviceID, e.DeviceSeq, err = scanDevice(env.Device); err != nil {
			return err
		}
	}
	return nil
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
