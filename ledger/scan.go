package ledger

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// This file decodes the few members the ledger reads from a record or an
// entry without decoding the rest: jsontext reads member names and skips
// the values nobody needs. Verification reads every entry, so this is its
// hot path.

var decoderPool = sync.Pool{New: func() any { return jsontext.NewDecoder(bytes.NewReader(nil)) }}

// scanEnvelope fills env from a JSON object, keeping each wanted member's
// raw value. Values are copied; unknown members are skipped. Member names
// must be unique and strings valid UTF-8, unless validated is set: obj was
// produced by jsontext's canonicalization, which checked both.
func scanEnvelope(obj []byte, env *envelope, validated bool) error {
	d := decoderPool.Get().(*jsontext.Decoder)
	defer decoderPool.Put(d)
	d.Reset(bytes.NewReader(obj), jsontext.AllowDuplicateNames(validated), jsontext.AllowInvalidUTF8(validated))
	tok, err := d.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != '{' {
		return fmt.Errorf("not a JSON object")
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return err
		}
		var dst *jsontext.Value
		switch string(name) {
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
		}
		if dst == nil {
			if err := d.SkipValue(); err != nil {
				return err
			}
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			return err
		}
		*dst = bytes.Clone(v)
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	if d.PeekKind() != 0 {
		return fmt.Errorf("data after the closing brace")
	}
	return nil
}

// device decodes a device object's id and seq.
func scanDevice(v jsontext.Value, validated bool) (id string, seq int64, err error) {
	var env envelope // reuses the "id" and "seq" slots
	if v.Kind() != '{' {
		return "", 0, invalid(CodeInvalidField, "device", "device must be an object")
	}
	if err := scanEnvelope(v, &env, validated); err != nil {
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
