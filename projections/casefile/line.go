package casefile

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
)

// The line encoding stores a case's list line (cf/o/) compactly, because
// it is written for every batch that touches the case and read for every
// case the list scans:
//
//	version      1 byte, 1
//	case id      16 bytes
//	strings      case_number, category, procedure, stage, status: uvarint length, bytes
//	numbers      first_seq, last_seq, entries: uvarint
//	times        first_at; opened_at, closed_at (each 0 absent, 1 present, then): time.Time binary form
//	money        fine_fen, paid_fen: varint
//	officers     uvarint count, then strings
//	refs         uvarint count, then id and cert_no strings
//	fines        uvarint count, then varint fen and 1 byte revoked
const lineVersion = 1

var errLine = errors.New("casefile: malformed list line")

func encodeLine(l *line) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, lineVersion)
	id, err := uuid.Parse(l.CaseID)
	if err != nil {
		return nil, err
	}
	b = append(b, id[:]...)
	for _, s := range []string{l.CaseNumber, l.Category, l.Procedure, string(l.Stage), l.Status} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, l.FirstSeq)
	b = binary.AppendUvarint(b, l.LastSeq)
	b = binary.AppendUvarint(b, uint64(l.Entries))
	if b, err = l.FirstAt.AppendBinary(b); err != nil {
		return nil, err
	}
	for _, t := range []*time.Time{l.OpenedAt, l.ClosedAt} {
		if t == nil {
			b = append(b, 0)
			continue
		}
		if b, err = t.AppendBinary(append(b, 1)); err != nil {
			return nil, err
		}
	}
	b = binary.AppendVarint(b, l.FineFen)
	b = binary.AppendVarint(b, l.PaidFen)
	b = binary.AppendUvarint(b, uint64(len(l.Officers)))
	for _, s := range l.Officers {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(l.Refs)))
	for _, r := range l.Refs {
		b = appendString(appendString(b, r.ID), r.CertNo)
	}
	b = binary.AppendUvarint(b, uint64(len(l.Fines)))
	for _, f := range l.Fines {
		b = binary.AppendVarint(b, f.Fen)
		if f.Revoked {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// lineReader reads the line encoding; the first problem sticks in err.
type lineReader struct {
	b   []byte
	err error
}

func (r *lineReader) fail() {
	if r.err == nil {
		r.err = errLine
	}
	r.b = nil
}

// uvarint and varint accept only the shortest form, so that a line
// decodes only from the bytes it encodes to.
func (r *lineReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || binary.PutUvarint(buf[:], v) != n {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *lineReader) varint() int64 {
	v, n := binary.Varint(r.b)
	var buf [binary.MaxVarintLen64]byte
	if n <= 0 || binary.PutVarint(buf[:], v) != n {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *lineReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *lineReader) string() string { return string(r.bytes(r.uvarint())) }

func (r *lineReader) byte() byte {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

// count reads a count of items of at least min bytes each.
func (r *lineReader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *lineReader) time() time.Time {
	// time.Time's binary form: a version byte, then 14 bytes (version 1)
	// or 15 (version 2, with the offset's seconds).
	n := 15
	if len(r.b) > 0 && r.b[0] == 2 {
		n = 16
	}
	var t time.Time
	b := r.bytes(uint64(n))
	if b == nil || t.UnmarshalBinary(b) != nil {
		r.fail()
		return t
	}
	if again, err := t.AppendBinary(nil); err != nil || string(again) != string(b) {
		r.fail() // not the form encodeLine writes
	}
	return t
}

func decodeLine(b []byte) (*line, error) {
	r := &lineReader{b: b}
	if r.byte() != lineVersion {
		return nil, errLine
	}
	id := r.bytes(16)
	if r.err != nil {
		return nil, r.err
	}
	l := &line{}
	l.CaseID = uuid.UUID(id).String()
	l.CaseNumber, l.Category, l.Procedure = r.string(), r.string(), r.string()
	l.Stage, l.Status = catalog.Stage(r.string()), r.string()
	l.FirstSeq, l.LastSeq, l.Entries = r.uvarint(), r.uvarint(), int(r.uvarint())
	l.FirstAt = r.time()
	for _, p := range []**time.Time{&l.OpenedAt, &l.ClosedAt} {
		switch r.byte() {
		case 0:
		case 1:
			t := r.time()
			*p = &t
		default:
			r.fail()
		}
	}
	l.FineFen, l.PaidFen = r.varint(), r.varint()
	l.Officers = make([]string, r.count(1))
	for i := range l.Officers {
		l.Officers[i] = r.string()
	}
	if n := r.count(2); n > 0 {
		l.Refs = make([]officerKey, n)
		for i := range l.Refs {
			l.Refs[i] = officerKey{r.string(), r.string()}
		}
	}
	if n := r.count(2); n > 0 {
		l.Fines = make([]fine, n)
		for i := range l.Fines {
			l.Fines[i].Fen = r.varint()
			switch r.byte() {
			case 0:
			case 1:
				l.Fines[i].Revoked = true
			default:
				r.fail()
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return nil, r.err
	}
	return l, nil
}
