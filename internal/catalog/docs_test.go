package catalog

import (
	"os"
	"strings"
	"testing"
)

// TestDocs keeps docs/events.md in step with the catalogue: every type with
// its Chinese name, every data field (as its path) and every allowed value.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatalf("ReadFile(docs/events.md) = %v", err)
	}
	doc := string(b)
	var fields func(typ, prefix string, fs []Field)
	fields = func(typ, prefix string, fs []Field) {
		for _, f := range fs {
			p := prefix + f.Name
			if !strings.Contains(doc, "| `"+p+"` |") {
				t.Errorf("docs/events.md: %s: no row for field %s", typ, p)
			}
			vs := f.Values
			if f.Kind == KindArray {
				vs = f.Elem.Values
				fields(typ, p+"[].", f.Elem.Fields)
			}
			fields(typ, p+".", f.Fields)
			for _, v := range vs {
				if !strings.Contains(doc, "`"+v.Code+"` "+v.Chinese) {
					t.Errorf("docs/events.md: %s.%s: value %s %s not documented", typ, p, v.Code, v.Chinese)
				}
			}
		}
	}
	for _, typ := range Types() {
		if !strings.Contains(doc, "#### `"+typ.Name+"` — "+typ.Chinese+"\n") {
			t.Errorf("docs/events.md: no section for %s %s", typ.Name, typ.Chinese)
		}
		fields(typ.Name, "", typ.Fields)
	}
	for _, c := range []string{CodeUnknownType, CodeMissingField, CodeInvalidField,
		CodeCaseIDRequired, CodeMoneyNotFen, CodeOccurredInFuture} {
		if !strings.Contains(doc, "| `"+c+"` |") {
			t.Errorf("docs/events.md: error code %s not documented", c)
		}
	}
}
