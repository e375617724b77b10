package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeRequest: the request decoder never panics; it either fails
// with a problem carrying a stable code, or returns at most max non-empty
// records. A body that is a valid JSON array is split exactly as
// encoding/json splits it.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"x"}`, `[{"a":1},{"b":2}]`, "{\"a\":1}\n{\"b\":2}\n", `[`, `[]`, `[1,]`, `[1] x`, ` `, "\xff",
		`[{"a":"\u0000"}]`, "{}\r\n\r\n{}", `[[[[[]]]]]`, `"str"`,
	} {
		f.Add("application/json", []byte(s))
		f.Add("application/x-ndjson", []byte(s))
	}
	f.Add("text/plain", []byte(`{}`))
	f.Add("application/json; charset=utf-8", []byte(`{}`))
	f.Add("", []byte(`[ {"a":"]\\\"}"} , [1,{"b":[]}] ,"x"]`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		const max = 5
		recs, format, err := decodeRequest(ct, body, max)
		if err != nil {
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("error %T %v is not a *Problem", err, err)
			}
			if _, ok := codeStatus[p.Code]; !ok {
				t.Fatalf("code %q has no status", p.Code)
			}
			return
		}
		if len(recs) == 0 || len(recs) > max {
			t.Fatalf("%d records", len(recs))
		}
		for _, r := range recs {
			if len(r) == 0 {
				t.Fatal("empty record")
			}
		}
		var want []json.RawMessage
		if format == formatArray && json.Unmarshal(body, &want) == nil {
			if len(want) != len(recs) {
				t.Fatalf("split into %d records, encoding/json finds %d", len(recs), len(want))
			}
			for i := range want {
				if !bytes.Equal(bytes.TrimSpace(want[i]), recs[i]) {
					t.Fatalf("record %d = %q, want %q", i, recs[i], want[i])
				}
			}
		}
		if format == formatSingle && len(recs) != 1 {
			t.Fatal("single body with several records")
		}
	})
}
