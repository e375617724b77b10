package projections

import (
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
	names  []string // member names, as exactly matched
	fields [][]int  // field index of each name
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
	return p
}

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
	end, ok := scanMembers(data, i, p.names, vals)
	if !ok || jsonscan.SkipSpace(data, end) != len(data) {
		return false
	}
	for k, raw := range vals {
		if raw == nil {
			continue
		}
		f := v.FieldByIndex(p.fields[k])
		switch f.Kind() {
		case reflect.String:
			if s, ok := plainString(raw); ok {
				f.SetString(s)
				continue
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if n, ok := optInt(raw); ok && !f.OverflowInt(n) {
				f.SetInt(n)
				continue
			}
		case reflect.Bool:
			switch string(raw) {
			case "true":
				f.SetBool(true)
				continue
			case "false":
				continue
			}
		}
		if jsonv2.Unmarshal(raw, f.Addr().Interface(), decodeOptions) != nil {
			return false
		}
	}
	return true
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
