package demo

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/ledger"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// TestDeterministic: the same seed gives the same records, byte for byte;
// another seed, others.
func TestDeterministic(t *testing.T) {
	a := Generate(Options{Seed: 7, Now: now})
	b := Generate(Options{Seed: 7, Now: now})
	c := Generate(Options{Seed: 8, Now: now})
	if len(a.Records) != len(b.Records) {
		t.Fatalf("%d records, then %d", len(a.Records), len(b.Records))
	}
	for i := range a.Records {
		if !bytes.Equal(a.Records[i].Raw, b.Records[i].Raw) {
			t.Fatalf("record %d differs:\n%s\n%s", i, a.Records[i].Raw, b.Records[i].Raw)
		}
	}
	if bytes.Equal(a.Records[0].Raw, c.Records[0].Raw) {
		t.Error("seeds 7 and 8 gave the same first record")
	}
}

// TestYear: a year has hundreds of cases across every category, the whole
// catalogue's lifecycle, valid records, media, breaches and late uploads.
func TestYear(t *testing.T) {
	y := Generate(Options{Now: now})
	types, cats := map[string]int{}, map[string]bool{}
	var media, late, lateMedia, missing int
	for _, r := range y.Records {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(r.Raw))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		// As the API checks it: the record's canonical form, read in place.
		rec, err := ledger.ParseRecord(r.Raw)
		if err != nil {
			t.Fatalf("%v\n%s", err, r.Raw)
		}
		v, err := jsonview.Parse(rec.Canonical())
		if err != nil {
			t.Fatal(err)
		}
		if err := catalog.Validate(v, now, catalog.Options{}); err != nil {
			t.Errorf("invalid record: %v\n%s", err, r.Raw)
		}
		typ := m["type"].(string)
		types[typ]++
		if typ == "case.opened" {
			cats[m["data"].(map[string]any)["category"].(string)] = true
		}
		media += len(r.Media)
		if r.Late {
			late++
		}
		for _, md := range r.Media {
			if md.Late {
				lateMedia++
			}
			if md.Missing {
				missing++
			}
		}
	}
	if types["case.opened"] != 300 {
		t.Errorf("%d cases opened, want 300", types["case.opened"])
	}
	for _, c := range catalog.Categories() {
		if !cats[c.Code] {
			t.Errorf("no case of category %s", c.Code)
		}
	}
	for _, typ := range catalog.Types() {
		if types[typ.Name] == 0 && typ.Name != "custody.accessed" {
			t.Errorf("no %s record", typ.Name)
		}
	}
	if media < 500 || late == 0 || lateMedia == 0 || missing == 0 || len(y.Breaches) < 10 {
		t.Errorf("media %d, late records %d, late media %d, missing media %d, breaches %d", media, late, lateMedia, missing, len(y.Breaches))
	}
	t.Logf("%d records, %d media, %d late records, %d late media, %d never uploaded, %d breaches", len(y.Records), media, late, lateMedia, missing, len(y.Breaches))
}
