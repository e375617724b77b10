package jsonview

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// toAny converts v to what encoding/json decodes with UseNumber.
func toAny(t testing.TB, v Value) any {
	switch v.Kind() {
	case Null:
		return nil
	case Bool:
		b, _ := v.Bool()
		return b
	case Number:
		return json.Number(v.Raw())
	case String:
		s, ok := v.Str()
		if !ok {
			t.Fatalf("Str of %s failed", v.Raw())
		}
		return s
	case Array:
		a := []any{}
		for e := v.First(); e.Kind() != Missing; e = e.Next() {
			if e.Name() != nil {
				t.Fatalf("an element has the name %q", e.Name())
			}
			a = append(a, toAny(t, e))
		}
		if len(a) != v.Len() {
			t.Fatalf("Len %d, First and Next gave %d", v.Len(), len(a))
		}
		return a
	case Object:
		m := map[string]any{}
		for e := v.First(); e.Kind() != Missing; e = e.Next() {
			name := e.Name()
			m[string(name)] = toAny(t, e)
			if got := v.Member(string(name)); got != e {
				t.Fatalf("Member(%q) = %v, want the member First and Next gave", name, got)
			}
		}
		if len(m) != v.Len() {
			t.Fatalf("Len %d, First and Next gave %d", v.Len(), len(m))
		}
		return m
	}
	t.Fatalf("kind %v", v.Kind())
	return nil
}

func decodeStd(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// check parses b and holds the view to encoding/json's reading of it.
func check(t testing.TB, b []byte) {
	v, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(%s): %v", b, err)
	}
	want, err := decodeStd(b)
	if err != nil {
		t.Fatalf("encoding/json(%s): %v", b, err)
	}
	if got := toAny(t, v); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%s) reads as\n%#v\nencoding/json as\n%#v", b, got, want)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-12.5e3`, `"x"`,
		`{"a":1,"b":[true,false,null,{"c":"d"}],"e":{}}`,
		` { "a" : [ 1 , 2 ] , "b" : "\u00e9\n\"\\" } `,
		`{"id":"0193f0a2-7c1e-7b3a-9d55-000000000001","type":"inspection.recorded","data":{"fine_fen":20000,"findings":"当事人在人行道上摆摊"},"officers":[{"id":"O-1"},{"id":"O-2"}]}`,
		`{"n\u0061me":1}`,
	} {
		check(t, []byte(s))
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{``, `{`, `[1,]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `tru`, `nul`, `"x`, `{} {}`, `x`, `{"a":1 "b":2}`,
		strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2)} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q) = nil error", s)
		}
	}
}

// TestDocReuse: a Doc parses one document after another.
func TestDocReuse(t *testing.T) {
	var d Doc
	for _, s := range []string{`{"a":[1,2,3,{"b":"c"}]}`, `[]`, `{"x":{"y":{"z":true}}}`, `"s"`} {
		v, err := d.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := decodeStd([]byte(s))
		if got := toAny(t, v); !reflect.DeepEqual(got, want) {
			t.Errorf("reused Doc reads %s as %#v", s, got)
		}
	}
}

// TestDepth: as deep as jsontext accepts, and no deeper.
func TestDepth(t *testing.T) {
	nest := func(n int) []byte { return []byte(strings.Repeat("[", n) + "1" + strings.Repeat("]", n)) }
	if !jsontext.Value(nest(MaxDepth)).IsValid() || jsontext.Value(nest(MaxDepth+1)).IsValid() {
		t.Fatalf("jsontext's depth limit is not %d", MaxDepth)
	}
	if _, err := Parse(nest(MaxDepth)); err != nil {
		t.Errorf("Parse of depth %d: %v", MaxDepth, err)
	}
	if _, err := Parse(nest(MaxDepth + 1)); err == nil {
		t.Errorf("Parse of depth %d: no error", MaxDepth+1)
	}
}

func TestMember(t *testing.T) {
	v, err := Parse([]byte(`{"a":"x","b\u0063":2,"a b":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := v.Member("a").Str(); !ok || s != "x" {
		t.Errorf(`Member("a") = %q %v`, s, ok)
	}
	if n, ok := v.Member("bc").Int(); !ok || n != 2 {
		t.Errorf(`Member("bc") = %d %v`, n, ok)
	}
	if k := v.Member("a b").Kind(); k != Null {
		t.Errorf(`Member("a b").Kind() = %v, want Null`, k)
	}
	if v.Member("a b").Present() || v.Member("z").Present() || v.Member("z").Kind() != Missing {
		t.Error("null or absent members are Present")
	}
	if v.Member("a").Member("a").Kind() != Missing {
		t.Error("Member of a string is not Missing")
	}
}

func TestInt(t *testing.T) {
	for _, s := range []string{"0", "-0", "7", "-20000", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "-9223372036854775809", "99999999999999999999", "1.5", "1e3", "1.0", "-"} {
		v, err := Parse([]byte(s))
		if err != nil {
			if s == "-" {
				continue // SkipValue takes it; JSON does not
			}
			t.Fatalf("Parse(%s): %v", s, err)
		}
		got, ok := v.Int()
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || got != want && ok {
			t.Errorf("Int(%s) = %d %v, strconv.ParseInt gives %d %v", s, got, ok, want, err)
		}
	}
	if v, _ := Parse([]byte(`"5"`)); func() bool { _, ok := v.Int(); return ok }() {
		t.Error("a string is an Int")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",{"c":null}],"d":true}`, `[]`, `"\u00e9"`, `{"x\"y":-1.5e3}`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Parse(b) // must not panic, whatever b is
		if err == nil {
			_ = v.Member("a").Raw()
			for e := v.First(); e.Kind() != Missing; e = e.Next() {
				_, _ = e.Int()
				_, _ = e.Str()
				_ = e.Name()
			}
		}
		// jsontext accepts what is JSON, without repeated names or bad UTF-8.
		if !jsontext.Value(b).IsValid() {
			return
		}
		check(t, b)
	})
}

// BenchmarkParse: a realistic record in its canonical form, as the API
// reads every record it is sent.
func BenchmarkParse(b *testing.B) {
	raw := []byte(`{"case_id":"0193f09e-1111-7000-8000-000000000001","data":{"document_no":"晋市城管检字〔2020〕第1号","findings":"当事人在迎泽大街人行道上摆摊设点，占道经营，影响通行。"},"device":{"id":"ZFY-140500-0001","seq":1},"id":"0193f0a2-7c1e-7b3a-9d55-000000000001","media":[{"content_type":"video/mp4","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":104857600}],"occurred_at":"2020-05-12T09:31:02+08:00","officers":[{"cert_no":"14050020190012","id":"O-0012","name":"王某"},{"cert_no":"14050020190031","id":"O-0031","name":"李某"}],"type":"inspection.recorded"}`)
	b.ReportAllocs()
	var d Doc
	for b.Loop() {
		if _, err := d.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
