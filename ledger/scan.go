package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
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
	if id, err = stringField(env.ID, "device.id", true); err != nil {
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
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(b, i+1)
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
		end, err := skipValue(b, i)
		if err != nil {
			return err
		}
		k := b[i:end]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("missing ':'")
		}
		i = skipSpace(b, i+1)
		if end, err = skipValue(b, i); err != nil {
			return err
		}
		if err := f(k, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errors.New("unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errors.New("missing ',' or '}'")
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errors.New("data after the object")
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errors.New("unterminated string")
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errors.New("missing value")
		}
		return j, nil
	}
}

// parsePrefix reads the ledger's members, which every entry starts with in
// a fixed order and form (docs/format.md §1.1), and returns the offset of
// the first record member.
func parsePrefix(b []byte, e *Entry) (int, error) {
	p := prefixReader{b: b}
	p.lit(`{"v":1,"seq":`)
	e.Seq = p.uint()
	p.lit(`,"recorded_at":"`)
	ts := p.take(len(RecordedAtLayout))
	p.lit(`","prev":"`)
	e.Prev = p.hash()
	p.lit(`"`)
	if p.err == nil && bytes.HasPrefix(b[p.i:], []byte(`,"case_seq":`)) {
		p.lit(`,"case_seq":`)
		e.CaseSeq = p.uint()
		p.lit(`,"case_prev":"`)
		e.CasePrev = p.hash()
		p.lit(`"`)
		if p.err == nil && e.CaseSeq == 0 {
			p.err = fmt.Errorf("case_seq is 1-based")
		}
	}
	p.lit(`,`)
	if p.err != nil {
		return 0, p.err
	}
	t, err := time.Parse(RecordedAtLayout, string(ts))
	if err != nil {
		return 0, fmt.Errorf("recorded_at: %v", err)
	}
	e.RecordedAt = t
	return p.i, nil
}

type prefixReader struct {
	b   []byte
	i   int
	err error
}

func (p *prefixReader) lit(s string) {
	if p.err != nil {
		return
	}
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.err = fmt.Errorf("entry does not have %q at byte %d", s, p.i)
		return
	}
	p.i += len(s)
}

func (p *prefixReader) take(n int) []byte {
	if p.err != nil {
		return nil
	}
	if len(p.b)-p.i < n {
		p.err = fmt.Errorf("entry is truncated at byte %d", p.i)
		return nil
	}
	p.i += n
	return p.b[p.i-n : p.i]
}

// uint reads a decimal integer without sign or leading zeros.
func (p *prefixReader) uint() uint64 {
	if p.err != nil {
		return 0
	}
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j-p.i > 1) {
		p.err = fmt.Errorf("entry has no canonical integer at byte %d", p.i)
		return 0
	}
	n, err := strconv.ParseUint(string(p.b[p.i:j]), 10, 64)
	if err != nil {
		p.err = fmt.Errorf("entry integer at byte %d: %v", p.i, err)
		return 0
	}
	p.i = j
	return n
}

func (p *prefixReader) hash() Hash {
	s := p.take(64)
	if p.err != nil {
		return Hash{}
	}
	h, err := parseHex(string(s))
	if err != nil {
		p.err = err
	}
	return h
}
