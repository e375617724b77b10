package compliance_test

import (
	"testing"
	"time"

	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
)

// TestSyntheticRebuild feeds a synthetic year (projections/internal/synth)
// while the ledger grows, in odd-sized appends and batches of 7, and checks
// that a store rebuilt from scratch holds the same compliance keys, lists
// the same findings, and that the report's counts by rule, over the years,
// match the list. (The ledger's clock is the wall clock, so every synthetic
// record is a late upload, shown from its recorded_at, after these dates.)
// The incremental store has a tiny memtable (tinyMemTable).
func TestSyntheticRebuild(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 5, Cases: 150, Spill: true})
	l := projtest.Ledger(t, recs[:1])
	inc := newEngine(t, l, compliance.Params{}, 7, tinyMemTable)
	for i := 1; i < len(recs); {
		n := min(len(recs)-i, 1+i%89)
		projtest.Append(t, l, recs[i:i+n])
		i += n
	}
	inc.wait(t, l.Head().Size)
	fresh := newEngine(t, l, compliance.Params{}, 1000)
	a, b := inc.dump(t), fresh.dump(t)
	if !mapsEqual(a, b) {
		t.Fatalf("rebuilt compliance keys differ from incremental: %d vs %d keys", len(a), len(b))
	}
	for _, now := range []time.Time{time.Date(2020, 7, 1, 0, 0, 0, 0, cst), time.Date(2021, 6, 1, 0, 0, 0, 0, cst)} {
		x, y := inc.all(t, compliance.Filter{}, now), fresh.all(t, compliance.Filter{}, now)
		if mustJSON(x) != mustJSON(y) {
			t.Fatalf("at %s the lists differ", now)
		}
		sn, err := fresh.st.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		byRule := map[string]int64{}
		for _, f := range y {
			byRule[f.Rule]++
		}
		total := map[string]int64{}
		for _, year := range []int{2019, 2020, 2021, 2022} {
			m, err := fresh.p.Count(sn, year, sn.Size, now)
			if err != nil {
				t.Fatal(err)
			}
			for r, n := range m {
				total[r] += n
				items, err := fresh.p.Items(sn, year, r, sn.Size, now)
				if err != nil || int64(len(items)) != n {
					t.Errorf("Items(%d, %s) = %d items, %v; Count says %d", year, r, len(items), err, n)
				}
			}
		}
		sn.Close()
		if mustJSON(total) != mustJSON(byRule) {
			t.Errorf("at %s: report counts %v, list %v", now.Format(time.DateOnly), total, byRule)
		}
		if len(y) == 0 {
			t.Errorf("at %s: no findings in a synthetic year", now)
		}
		t.Logf("at %s: %d findings %v", now.Format(time.DateOnly), len(y), byRule)
	}
}
