package jsonview

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// member is an object member being put in order: its name, b[name0:name1],
// and its node.
type member struct{ name0, name1, node int32 }

// AppendCanonical appends the RFC 8785 (JCS) form of v to dst, for the
// values that make up nearly all of the ledger's input: member names in
// printable ASCII, strings with no escape sequence, valid UTF-8 and no
// control character. Such a value's canonical form is its own bytes with
// the white space gone, every object's members sorted and numbers with a
// fraction or exponent rewritten, which one walk of the tape writes in
// about half the time jsontext.Value.Canonicalize takes to decode the
// value twice and reorder it through a second buffer.
//
// For anything else (an escape, a name outside ASCII, whose UTF-16 order is
// not its byte order, a repeated name, a malformed number) ok is false, and
// the caller canonicalizes with jsontext, which remains the definition:
// the ledger's FuzzCanonical holds the two to the same bytes. Numbers other than
// plain integers of up to 15 digits are written by jsontext too.
func (d *Doc) AppendCanonical(dst []byte, v Value) (out []byte, ok bool) {
	if v.d != d {
		return dst, false
	}
	out, ok = d.canonical(dst, v.i)
	d.order = d.order[:0]
	return out, ok
}

func (d *Doc) canonical(dst []byte, i int32) ([]byte, bool) {
	n := &d.nodes[i]
	raw := d.b[n.start:n.end]
	switch n.kind {
	case Object:
		return d.canonicalObject(dst, i)
	case Array:
		dst = append(dst, '[')
		for c := n.first; c != 0; c = d.nodes[c].next {
			if c != n.first {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = d.canonical(dst, c); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case String:
		if n.esc || !plainText(raw[1:len(raw)-1]) {
			return dst, false
		}
		return append(dst, raw...), true
	case Number:
		if plainInt(raw) {
			return append(dst, raw...), true
		}
		// A fraction or an exponent: jsontext writes the number's shortest
		// double form, and checks its syntax.
		num := jsontext.Value(append(d.num[:0], raw...))
		if num.Canonicalize() != nil {
			return dst, false
		}
		d.num = num
		return append(dst, num...), true
	case Bool, Null:
		return append(dst, raw...), true
	}
	return dst, false
}

func (d *Doc) canonicalObject(dst []byte, i int32) ([]byte, bool) {
	b := d.b
	base := len(d.order)
	for c := d.nodes[i].first; c != 0; c = d.nodes[c].next {
		n := &d.nodes[c]
		if n.nameEsc || !asciiName(b[n.name0:n.name1]) {
			return dst, false
		}
		d.order = append(d.order, member{n.name0, n.name1, c})
	}
	ms := d.order[base:]
	name := func(m member) string { return string(b[m.name0:m.name1]) }
	// For ASCII names, byte order is RFC 8785's UTF-16 code unit order.
	for k := 1; k < len(ms); k++ {
		for j := k; j > 0 && name(ms[j]) < name(ms[j-1]); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	dst = append(dst, '{')
	for k := range ms {
		m := d.order[base+k] // nested objects may move d.order
		if k > 0 {
			if name(m) == name(d.order[base+k-1]) {
				return dst, false // a repeated name, which jsontext refuses
			}
			dst = append(dst, ',')
		}
		dst = append(dst, b[m.name0-1:m.name1+1]...)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = d.canonical(dst, m.node); !ok {
			return dst, false
		}
	}
	d.order = d.order[:base]
	return append(dst, '}'), true
}

// asciiName reports whether a member name is printable ASCII (a quote or
// backslash would have made it escaped).
func asciiName(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// plainText reports whether a string's contents, with no escape in them,
// are already in canonical form: valid UTF-8 without control characters.
func plainText(b []byte) bool {
	// Eight bytes at a time while they are all printable ASCII: a byte
	// below 0x20 borrows into its high bit, and one above 0x7f has it.
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if ((w-0x20*ones)|w)&highs != 0 {
			break
		}
	}
	for j, c := range b[i:] {
		if c < 0x20 {
			return false
		}
		if c >= 0x80 {
			for _, c := range b[i+j:] {
				if c < 0x20 {
					return false
				}
			}
			return utf8.Valid(b[i+j:])
		}
	}
	return true
}

// plainInt reports whether a number is an integer as RFC 8785 writes it:
// no fraction, exponent or leading zero, not -0, and at most 15 digits, so
// that it is exactly a double.
func plainInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
		if len(b) == 1 && b[0] == '0' {
			return false
		}
	}
	if len(b) == 0 || len(b) > 15 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
