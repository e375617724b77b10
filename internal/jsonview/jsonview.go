// Package jsonview reads a JSON document in place. One pass records where
// every value lies; lookups then walk that table, and strings and numbers
// are read from the document's own bytes. Checking a record against the
// event catalogue this way builds no maps and copies no strings, which
// decoding into map[string]any (a map per object, a string per value) did
// for every record the API was sent.
//
// The document must be valid JSON (the API passes records in their RFC
// 8785 form, which jsontext produced and so checked). Parse follows the
// structure only; on input that is not JSON it returns an error or a view
// of no particular meaning, but never panics. An object with a repeated
// member name (which valid records cannot have) answers Member with the
// first. AppendCanonical is the exception: it reads records as submitted,
// checks every string, name and number it writes, and gives up on
// anything it does not check.
package jsonview

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/liuhen/liuhen/internal/jsonscan"
)

// Kind is a value's JSON type.
type Kind byte

// The kinds. The zero Kind is a missing value.
const (
	Missing Kind = 0
	Null    Kind = 'n'
	Bool    Kind = 'b'
	Number  Kind = '0'
	String  Kind = '"'
	Array   Kind = '['
	Object  Kind = '{'
)

// MaxDepth is the deepest nesting Parse follows: jsontext's limit, so that
// every record the ledger accepts (its canonical form is jsontext's) can
// be read.
const MaxDepth = 10000

// ErrSyntax reports input that is not a JSON value.
var ErrSyntax = errors.New("jsonview: not a JSON value")

// node is one value of the document: b[start:end] (a string with its
// quotes); for an object member also its name, b[name0:name1] without the
// quotes. Children are linked through next, in document order.
type node struct {
	kind         Kind
	esc, nameEsc bool // the string, or the member name, holds an escape
	truth        bool // a Bool's value
	start, end   int32
	name0, name1 int32
	first, next  int32 // first child and next sibling; 0 is none (node 0 is the root)
	n            int32 // number of children
}

// Doc is a parsed document.
type Doc struct {
	b     []byte
	nodes []node
	order []member // AppendCanonical's objects, each sorting its own tail
	num   []byte   // AppendCanonical's number being reformatted
}

// Value is a value in a Doc, or Missing (its zero value).
type Value struct {
	d *Doc
	i int32
}

// Parse parses the JSON value b. b must not change while the view is used.
func Parse(b []byte) (Value, error) {
	return new(Doc).Parse(b)
}

// Parse parses the JSON value b into d, reusing d's memory: the values of
// d's earlier documents are invalid from then on. b must not change while
// the view is used.
func (d *Doc) Parse(b []byte) (Value, error) {
	if len(b) > 1<<31-1 {
		return Value{}, ErrSyntax
	}
	d.b, d.nodes = b, d.nodes[:0]
	if d.nodes == nil {
		d.nodes = make([]node, 0, 64)
	}
	end, err := d.parse(jsonscan.SkipSpace(b, 0), 0)
	if err != nil {
		return Value{}, err
	}
	if jsonscan.SkipSpace(b, end) != len(b) {
		return Value{}, fmt.Errorf("%w: data after the value", ErrSyntax)
	}
	return Value{d: d, i: 0}, nil
}

// parse adds the value at b[i] and its children, returning where it ends.
func (d *Doc) parse(i, depth int) (int, error) {
	b := d.b
	if i >= len(b) {
		return 0, fmt.Errorf("%w: missing value", ErrSyntax)
	}
	me := int32(len(d.nodes))
	d.nodes = append(d.nodes, node{start: int32(i)})
	var end int
	switch c := b[i]; c {
	case '{', '[':
		if depth >= MaxDepth { // this object or array is level depth+1
			return 0, fmt.Errorf("%w: nested deeper than %d", ErrSyntax, MaxDepth)
		}
		k := Kind(c)
		d.nodes[me].kind = k
		close := byte('}')
		if k == Array {
			close = ']'
		}
		j := jsonscan.SkipSpace(b, i+1)
		if j < len(b) && b[j] == close {
			end = j + 1
			break
		}
		var last int32
		for {
			var name0, name1 int
			var nameEsc bool
			if k == Object {
				if j >= len(b) || b[j] != '"' {
					return 0, fmt.Errorf("%w: member name expected at %d", ErrSyntax, j)
				}
				e, err := jsonscan.SkipString(b, j)
				if err != nil {
					return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
				}
				name0, name1 = j+1, e-1
				nameEsc = bytes.IndexByte(b[name0:name1], '\\') >= 0
				j = jsonscan.SkipSpace(b, e)
				if j >= len(b) || b[j] != ':' {
					return 0, fmt.Errorf("%w: ':' expected at %d", ErrSyntax, j)
				}
				j = jsonscan.SkipSpace(b, j+1)
			}
			child := int32(len(d.nodes))
			e, err := d.parse(j, depth+1)
			if err != nil {
				return 0, err
			}
			if k == Object {
				c := &d.nodes[child]
				c.name0, c.name1, c.nameEsc = int32(name0), int32(name1), nameEsc
			}
			if last == 0 {
				d.nodes[me].first = child
			} else {
				d.nodes[last].next = child
			}
			last = child
			d.nodes[me].n++
			j = jsonscan.SkipSpace(b, e)
			if j < len(b) && b[j] == ',' {
				j = jsonscan.SkipSpace(b, j+1)
				continue
			}
			if j < len(b) && b[j] == close {
				end = j + 1
				break
			}
			return 0, fmt.Errorf("%w: ',' or '%c' expected at %d", ErrSyntax, close, j)
		}
	case '"':
		e, err := jsonscan.SkipString(b, i)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		d.nodes[me].kind = String
		d.nodes[me].esc = bytes.IndexByte(b[i+1:e-1], '\\') >= 0
		end = e
	case 't', 'f', 'n':
		word, k := "null", Null
		switch c {
		case 't':
			word, k = "true", Bool
		case 'f':
			word, k = "false", Bool
		}
		if !bytes.HasPrefix(b[i:], []byte(word)) {
			return 0, fmt.Errorf("%w: bad literal at %d", ErrSyntax, i)
		}
		d.nodes[me].kind, d.nodes[me].truth = k, c == 't'
		end = i + len(word)
	default:
		if c != '-' && (c < '0' || c > '9') {
			return 0, fmt.Errorf("%w: unexpected %q at %d", ErrSyntax, c, i)
		}
		e, err := jsonscan.SkipValue(b, i)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		d.nodes[me].kind = Number
		end = e
	}
	d.nodes[me].end = int32(end)
	return end, nil
}

func (v Value) node() *node { return &v.d.nodes[v.i] }

// Kind returns v's type; Missing for the zero Value.
func (v Value) Kind() Kind {
	if v.d == nil {
		return Missing
	}
	return v.node().kind
}

// Present reports whether v exists and is not null.
func (v Value) Present() bool { k := v.Kind(); return k != Missing && k != Null }

// Raw returns v's bytes as they are in the document.
func (v Value) Raw() []byte {
	if v.d == nil {
		return nil
	}
	n := v.node()
	return v.d.b[n.start:n.end]
}

// Member returns the member name of the object v, or Missing.
func (v Value) Member(name string) Value {
	if v.Kind() != Object {
		return Value{}
	}
	for c := v.node().first; c != 0; {
		n := &v.d.nodes[c]
		if n.nameEsc {
			if u, err := jsontext.AppendUnquote(nil, v.d.b[n.name0-1:n.name1+1]); err == nil && string(u) == name {
				return Value{v.d, c}
			}
		} else if string(v.d.b[n.name0:n.name1]) == name {
			return Value{v.d, c}
		}
		c = n.next
	}
	return Value{}
}

// Len returns the number of elements of an array or members of an object.
func (v Value) Len() int {
	if k := v.Kind(); k != Array && k != Object {
		return 0
	}
	return int(v.node().n)
}

// First returns the first element of an array or member of an object, in
// document order, or Missing. Next goes on from there:
//
//	for e := v.First(); e.Kind() != jsonview.Missing; e = e.Next() { … }
func (v Value) First() Value {
	if k := v.Kind(); k != Array && k != Object {
		return Value{}
	}
	if c := v.node().first; c != 0 {
		return Value{v.d, c}
	}
	return Value{}
}

// Next returns the element or member after v in its array or object, or
// Missing.
func (v Value) Next() Value {
	if v.d == nil || v.i == 0 {
		return Value{}
	}
	if c := v.node().next; c != 0 {
		return Value{v.d, c}
	}
	return Value{}
}

// Name returns the name of v as a member of its object, unescaped: the
// document's own bytes when it has no escape, which the caller must not
// change. It is nil for a value that is not an object member.
func (v Value) Name() []byte {
	if v.d == nil || v.i == 0 {
		return nil
	}
	n := v.node()
	if n.name1 == 0 {
		return nil
	}
	if n.nameEsc {
		if u, err := jsontext.AppendUnquote(nil, v.d.b[n.name0-1:n.name1+1]); err == nil {
			return u
		}
	}
	return v.d.b[n.name0:n.name1]
}

// Bytes returns the contents of the string v, unescaped, and whether v is
// a string. Without escapes they are the document's own bytes, which the
// caller must not change.
func (v Value) Bytes() ([]byte, bool) {
	if v.Kind() != String {
		return nil, false
	}
	n := v.node()
	if !n.esc {
		return v.d.b[n.start+1 : n.end-1], true
	}
	u, err := jsontext.AppendUnquote(nil, v.d.b[n.start:n.end])
	if err != nil {
		return nil, false
	}
	return u, true
}

// Str returns the string v, unescaped, and whether v is a string.
func (v Value) Str() (string, bool) {
	b, ok := v.Bytes()
	return string(b), ok
}

// Bool returns the boolean v, and whether v is one.
func (v Value) Bool() (bool, bool) {
	if v.Kind() != Bool {
		return false, false
	}
	return v.node().truth, true
}

// Int returns the number v as an int64 if it is written as an integer (no
// fraction, no exponent) within int64's range.
func (v Value) Int() (int64, bool) {
	if v.Kind() != Number {
		return 0, false
	}
	b := v.Raw()
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}
