package projections

import (
	"encoding"
	"reflect"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/liuhen/liuhen/internal/jsonscan"
)

// DecodeData's fast path. Most record data the projections read are flat
// objects of strings and integers decoded into small structs, once per
// projection and entry; encoding/json/v2 spends most of its time there on
// reflection and on the members nobody asked for. A dataPlan, built once
// per struct type, names the members the struct's fields take; scanMembers
// (scan.go) finds their raw values in one pass, and the values are stored
// directly: plain strings, canonical integers and booleans by hand,
// anything else by encoding/json/v2 on that member's value alone. Whatever
// the plan cannot vouch for (a member name that matches a field only
// ignoring case, an escaped name, a struct it does not understand, a value
// that does not decode) goes to encoding/json/v2 on the whole object, whose
// answer is the reference (TestDecodeDataFast, FuzzDecodeData).

type dataPlan struct {
	names  []string       // member names, as exactly matched
	fields [][]int        // field index of each name
	index  map[string]int // names' positions, for plans with many names
}

var dataPlans sync.Map // reflect.Type → *dataPlan, nil if the type is left to encoding/json/v2

// planFor returns the plan of struct type t, or nil.
func planFor(t reflect.Type) *dataPlan {
	if p, ok := dataPlans.Load(t); ok {
		return p.(*dataPlan)
	}
	p := buildPlan(t)
	dataPlans.Store(t, p)
	return p
}

// buildPlan returns a plan for the struct types whose fields are all
// exported, not embedded, with a json tag that is absent or only a plain
// name and omitempty/omitzero, and whose names differ ignoring case.
// Untagged fields take their lowercased name: encoding/json/v2 with
// decodeOptions matches it (ignoring case), and a member that differs from
// it only in case makes scanMembers give up.
func buildPlan(t reflect.Type) *dataPlan {
	if custom(t) {
		return nil
	}
	p := &dataPlan{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			return nil
		}
		name := strings.ToLower(f.Name)
		if tag, ok := f.Tag.Lookup("json"); ok {
			n, opts, _ := strings.Cut(tag, ",")
			if n == "-" || strings.ContainsAny(n, `'"\`) {
				return nil
			}
			for _, o := range strings.Split(opts, ",") {
				if o != "" && o != "omitempty" && o != "omitzero" {
					return nil
				}
			}
			if n != "" {
				name = n
			}
		}
		if foldsTo([]byte(name), p.names...) {
			return nil
		}
		p.names = append(p.names, name)
		p.fields = append(p.fields, f.Index)
	}
	if len(p.names) > 8 {
		p.index = make(map[string]int, len(p.names))
		for i, n := range p.names {
			p.index[n] = i
		}
	}
	return p
}

// Types that decode themselves (encoding/json's or encoding/json/v2's
// methods, or text) are left to encoding/json/v2.
var (
	unmarshalerType     = reflect.TypeFor[jsonv2.Unmarshaler]() // encoding/json's too: the same method
	unmarshalerFromType = reflect.TypeFor[jsonv2.UnmarshalerFrom]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether t, or a pointer to it, decodes itself. It runs for
// every value decoded, so it answers the common cases without reflection:
// only a type defined in a package (PkgPath set) can have methods of its
// own (an unnamed struct's promoted methods need an embedded field, which
// buildPlan refuses; a pointer or slice is checked through its element).
// Defined types are looked up once and remembered.
func custom(t reflect.Type) bool {
	if t.PkgPath() == "" {
		return false
	}
	if v, ok := customTypes.Load(t); ok {
		return v.(bool)
	}
	pt := reflect.PointerTo(t)
	is := false
	for _, i := range []reflect.Type{unmarshalerType, unmarshalerFromType, textUnmarshalerType} {
		if t.Implements(i) || pt.Implements(i) {
			is = true
		}
	}
	customTypes.Store(t, is)
	return is
}

var customTypes sync.Map // reflect.Type (defined) → bool

// decode fills v, a zero struct of the plan's type, from the JSON object
// data. It reports false, leaving v partly filled, when encoding/json/v2
// must decide.
func (p *dataPlan) decode(data []byte, v reflect.Value) bool {
	var buf [8][]byte
	var vals [][]byte
	if len(p.names) <= len(buf) {
		vals = buf[:len(p.names)]
	} else {
		vals = make([][]byte, len(p.names))
	}
	i := jsonscan.SkipSpace(data, 0)
	end, ok := scanMembers(data, i, p.names, p.index, vals)
	if !ok || jsonscan.SkipSpace(data, end) != len(data) {
		return false
	}
	for k, raw := range vals {
		if raw == nil {
			continue
		}
		f := v.FieldByIndex(p.fields[k])
		if decodeValue(raw, f) {
			continue
		}
		f.SetZero()
		if jsonv2.Unmarshal(raw, f.Addr().Interface(), decodeOptions) != nil {
			return false
		}
	}
	return true
}

// decodeValue stores the JSON value raw in f, which is zero, when it can
// vouch for the result being encoding/json/v2's: plain strings, canonical
// integers, booleans, and pointers to, slices of and structs of those. It
// reports false, leaving f partly filled, otherwise.
func decodeValue(raw []byte, f reflect.Value) bool {
	t := f.Type()
	switch f.Kind() {
	case reflect.String:
		if s, ok := plainString(raw); ok && !custom(t) {
			f.SetString(s)
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := optInt(raw); ok && !f.OverflowInt(n) && !custom(t) {
			f.SetInt(n)
			return true
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := optInt(raw); ok && n >= 0 && !f.OverflowUint(uint64(n)) && !custom(t) {
			f.SetUint(uint64(n))
			return true
		}
	case reflect.Bool:
		if custom(t) {
			return false
		}
		switch string(raw) {
		case "true":
			f.SetBool(true)
			return true
		case "false":
			return true
		}
	case reflect.Pointer: // custom(t) is custom(t.Elem()): checked below
		if string(raw) == "null" {
			return true // stays nil
		}
		e := reflect.New(t.Elem())
		if !decodeValue(raw, e.Elem()) {
			return false
		}
		f.Set(e)
		return true
	case reflect.Struct:
		if p := planFor(t); p != nil {
			return p.decode(raw, f)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 || custom(t) {
			return false // base64, or its own decoding
		}
		return decodeSlice(raw, f)
	}
	return false
}

// decodeSlice is decodeValue for a slice: null leaves it nil, [] makes it
// empty (not nil), as encoding/json/v2 does.
func decodeSlice(raw []byte, f reflect.Value) bool {
	if string(raw) == "null" {
		return true
	}
	if len(raw) < 2 || raw[0] != '[' {
		return false
	}
	s := reflect.MakeSlice(f.Type(), 0, 2)
	i := jsonscan.SkipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		f.Set(s)
		return jsonscan.SkipSpace(raw, i+1) == len(raw)
	}
	elem := reflect.New(f.Type().Elem()).Elem()
	for {
		end, err := jsonscan.SkipValue(raw, i)
		if err != nil {
			return false
		}
		elem.SetZero()
		if !decodeValue(raw[i:end], elem) {
			return false
		}
		s = reflect.Append(s, elem)
		i = jsonscan.SkipSpace(raw, end)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = jsonscan.SkipSpace(raw, i+1)
		case ']':
			f.Set(s)
			return jsonscan.SkipSpace(raw, i+1) == len(raw)
		default:
			return false
		}
	}
}

// decodeDataFast decodes e.Data into v by its plan; false means it did not,
// and v is as it was.
func decodeDataFast(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	s := rv.Elem()
	if s.Kind() != reflect.Struct || !s.IsZero() {
		return false // encoding/json/v2 merges into what is there
	}
	p := planFor(s.Type())
	if p == nil {
		return false
	}
	if !p.decode(data, s) {
		s.SetZero()
		return false
	}
	return true
}
