package compliance_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/projections/compliance"
)

// TestDocs keeps docs/compliance.md in step with the engine: a section per
// rule with its name and legal basis, and a configuration file of the
// defaults that parses to the defaults; the second example parses too.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/compliance.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range compliance.Rules() {
		if !strings.Contains(doc, "### `"+r.ID+"` — "+r.Name+"\n") {
			t.Errorf("docs/compliance.md: no section for %s %s", r.ID, r.Name)
		}
	}
	var blocks []string
	for rest := doc; ; {
		_, after, ok := strings.Cut(rest, "```json\n")
		if !ok {
			break
		}
		block, tail, _ := strings.Cut(after, "```")
		blocks, rest = append(blocks, block), tail
	}
	if len(blocks) < 3 {
		t.Fatalf("docs/compliance.md: %d JSON blocks, want the defaults, an example and a holiday file", len(blocks))
	}
	p, err := compliance.ParseParams([]byte(blocks[0]))
	if err != nil {
		t.Fatalf("the documented defaults: %v", err)
	}
	got, _ := compliance.New(compliance.Config{Params: p})
	def, _ := compliance.New(compliance.Config{})
	if !reflect.DeepEqual(normal(got.Params()), normal(def.Params())) || got.Version() != def.Version() {
		t.Errorf("the documented defaults differ from the defaults:\n%+v\n%+v", got.Params(), def.Params())
	}
	if _, err := compliance.ParseParams([]byte(blocks[1])); err != nil {
		t.Errorf("the documented example: %v", err)
	}
	if _, err := compliance.ParseCalendar([]byte(`{"years": []}`), []byte(blocks[2])); err != nil {
		t.Errorf("the documented holiday file: %v", err)
	}
}

// normal makes empty and absent lists alike.
func normal(p compliance.Params) string {
	b, _ := json.Marshal(p)
	return strings.ReplaceAll(string(b), `"categories":[],`, "")
}

// TestParams: bad parameter files are refused with every problem named.
func TestParams(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"disabled": ["nope"]}`, "no rule"},
		{`{"two_officers": {"acts": ["x.y"]}}`, "unknown record type"},
		{`{"av_coverage": {"scenes": ["document.served:fax"]}}`, "bad scene"},
		{`{"service_7d": {"unit": "lunar"}}`, "neither calendar nor working"},
		{`{"decision_90d": {"days": 60, "warn_days": 75}}`, "after days"},
		{`{"no_night_holiday_enforcement": {"from": "25:00"}}`, "HH:MM"},
		{`{"late_upload": {"max_delay": "soon"}}`, "duration"},
		{`{"zone": "Mars/Olympus"}`, "zone"},
		{`{"majr": {}}`, "unknown field"},
		{`{"major": {"penalties": ["flogging"]}}`, "unknown penalty"},
		{`{"period_end_on_rest_day": "never"}`, "period_end_on_rest_day"},
		{`{"public_notice": {"days": -1}}`, "public_notice.days"},
	} {
		_, err := compliance.ParseParams([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseParams(%s) = %v, want an error about %q", tc.json, err, tc.want)
		}
	}
	a, _ := compliance.New(compliance.Config{})
	p, _ := compliance.ParseParams([]byte(`{"service_7d": {"unit": "calendar"}}`))
	b, _ := compliance.New(compliance.Config{Params: p})
	if a.Version() == b.Version() {
		t.Error("changing a parameter does not change the projection's version")
	}
}
