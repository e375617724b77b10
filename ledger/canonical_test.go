package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// canonicalSeeds are records and fragments on both sides of what
// appendCanonical writes itself.
var canonicalSeeds = []string{
	`{}`, `[]`, `{"a":[]}`, `[{}]`, ` { "b" : 1 , "a" : [ 1 , 2 ] } `,
	`{"b":1,"a":2,"ab":3,"":4,"A":5,"_":6,"~":7,"a b":8}`,
	`{"x":-0}`, `{"x":0}`, `{"x":-1}`, `{"x":01}`, `{"x":1e3}`, `{"x":1E+2}`, `{"x":2.50}`, `{"x":-0.0}`,
	`{"x":37.870612,"y":112.5489,"z":1e-7,"w":123456789012345,"v":1234567890123456}`,
	`{"x":100000000000000000000000}`, `{"x":1.}`, `{"x":.5}`, `{"x":+1}`, `{"x":1.5.3}`, `{"x":--1}`,
	`{"s":"当事人在迎泽大街人行道上摆摊设点"}`, `{"s":"a\"b"}`, `{"s":"\u0041"}`, `{"s":"\/"}`,
	"{\"s\":\"tab\there\"}", "{\"s\":\"\x7f\"}", "{\"s\":\"\xe2\x80\xa8\"}", "{\"s\":\"\xff\"}", "{\"s\":\"\xed\xa0\x80\"}",
	`{"a":1,"a":2}`, `{"a":{"b":1,"b":1}}`, `{"a\u0062":1,"ab":2}`, `{"名":1,"a":2}`, "{\"\U0001F600\":1,\"\uff61\":2}",
	`{"a":true,"b":false,"c":null}`, `{"a":tru}`, `{"a":nulll}`, `{"a":1}x`, `{"a":1,}`, `[1,2,]`, `{"a" 1}`,
	`{"k":{"z":{"y":[{"b":2,"a":1},[3,{"d":4,"c":3}]]}},"j":[]}`,
	strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200),
	string(benchRecord(7)),
}

// FuzzCanonical holds appendCanonical to jsontext: whatever it writes
// itself must be exactly jsontext's RFC 8785 form of the same input.
func FuzzCanonical(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := appendCanonical([]byte("prefix"), b)
		if !ok {
			return
		}
		want := jsontext.Value(bytes.Clone(b))
		if err := want.Canonicalize(); err != nil {
			t.Fatalf("appendCanonical wrote %q for %q, which jsontext refuses: %v", got, b, err)
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("appendCanonical(%q) = %q, jsontext %q", b, got, want)
		}
	})
}

// TestCanonicalFastPath: the records devices send are written by
// appendCanonical, not handed to jsontext; the rest are, and ParseRecord
// gives jsontext's form either way.
func TestCanonicalFastPath(t *testing.T) {
	fast := []string{
		string(benchRecord(1)),
		string(rec(3, 2)),
		`{"b":{"lat":37.870612,"lng":112.548901},"a":[1,-2,0,1.5e-3],"c":"王某 «¹²» 😀","d":null,"e":true}`,
	}
	slow := []string{
		`{"s":"\u0041"}`, `{"名":1}`, `{"a":1,"a":2}`, "{\"s\":\"\xff\"}",
	}
	for _, s := range append(fast, slow...) {
		want := jsontext.Value(s)
		wantErr := want.Canonicalize()
		got, ok := appendCanonical(nil, []byte(s))
		if isFast := strings.Contains(strings.Join(fast, "\n"), s); ok != isFast {
			t.Errorf("appendCanonical(%q): ok %v, want %v", s, ok, isFast)
		}
		if ok && (wantErr != nil || !bytes.Equal(got, want)) {
			t.Errorf("appendCanonical(%q) = %q, jsontext %q (%v)", s, got, want, wantErr)
		}
	}
}

func BenchmarkCanonical(b *testing.B) {
	raw := benchRecord(1)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		var dst []byte
		for b.Loop() {
			var ok bool
			if dst, ok = appendCanonical(dst[:0], raw); !ok {
				b.Fatal("not fast")
			}
		}
	})
	b.Run("jsontext", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		var v jsontext.Value
		for b.Loop() {
			v = append(v[:0], raw...)
			if err := v.Canonicalize(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
