package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
	"github.com/liuhen/liuhen/projections/report"
)

// expected computes the report's figures straight from the records, with
// none of the projection's code: the independent oracle of the synthetic
// year test.
func expected(tb testing.TB, recs [][]byte, year int, loc *time.Location) *report.Report {
	tb.Helper()
	type app struct{ year int }
	type lawsuit struct {
		year            int
		heard, appeared bool
	}
	type dec struct {
		at        time.Time
		doc       string
		published bool
	}
	cat := map[string]string{}
	apps := map[string][]app{}
	suits := map[string]*lawsuit{}
	decs := map[string][]*dec{}
	r := &report.Report{Year: year, ByCategory: map[string]report.Category{}, Findings: map[string]int64{}}
	for _, c := range catalog.Categories() {
		r.ByCategory[c.Code] = report.Category{Name: c.Chinese}
	}
	bump := func(code string, f func(*report.Category)) {
		c := r.ByCategory[code]
		f(&c)
		r.ByCategory[code] = c
	}
	for _, raw := range recs {
		var m struct {
			Type       string         `json:"type"`
			CaseID     string         `json:"case_id"`
			OccurredAt string         `json:"occurred_at"`
			Data       map[string]any `json:"data"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			tb.Fatal(err)
		}
		at, _ := time.Parse(time.RFC3339, m.OccurredAt)
		in := at.In(loc).Year() == year
		num := func(k string) int64 { f, _ := m.Data[k].(float64); return int64(f) }
		str := func(k string) string { s, _ := m.Data[k].(string); return s }
		switch m.Type {
		case "case.opened":
			cat[m.CaseID] = str("category")
			if in {
				if str("procedure") == "general" {
					r.CasesOpened.General++
				} else {
					r.CasesOpened.Simple++
				}
				bump(str("category"), func(c *report.Category) { c.CasesOpened++ })
			}
		case "decision.made":
			decs[m.CaseID] = append(decs[m.CaseID], &dec{at: at, doc: str("document_no")})
			if in {
				switch str("outcome") {
				case "penalty":
					r.Decisions.Penalty++
					r.FinesDecidedFen += num("fine_fen")
					bump(cat[m.CaseID], func(c *report.Category) { c.PenaltyDecisions++; c.FinesDecidedFen += num("fine_fen") })
				case "no_penalty":
					r.Decisions.NoPenalty++
				case "transfer":
					r.Decisions.Transfer++
				}
			}
		case "payment.received":
			if in {
				r.FinesCollectedFen += num("amount_fen")
			}
		case "decision.published":
			if in {
				r.Publications++
			}
			for _, d := range decs[m.CaseID] {
				if d.doc != str("document_no") {
					continue
				}
				// 7 working days, Monday to Friday, counted from the day after.
				day := time.Date(d.at.In(loc).Year(), d.at.In(loc).Month(), d.at.In(loc).Day(), 0, 0, 0, 0, loc)
				for n := 0; n < 7; {
					day = day.AddDate(0, 0, 1)
					if day.Weekday() != time.Saturday && day.Weekday() != time.Sunday {
						n++
					}
				}
				if in && !d.published && at.Before(day.AddDate(0, 0, 1)) {
					r.PublicationsOnTime++
				}
				d.published = true
			}
		case "review.completed":
			if in {
				r.LegalReviews++
			}
		case "discussion.held":
			if in {
				r.CollectiveDiscussions++
			}
		case "hearing.held":
			if in {
				r.Hearings++
			}
		case "reconsideration.filed":
			if in {
				r.Reconsiderations++
			}
		case "enforcement.applied":
			apps[m.CaseID] = append(apps[m.CaseID], app{year: at.In(loc).Year()})
			if in {
				r.CourtEnforcement.Applied++
			}
		case "enforcement.ruled":
			if len(apps[m.CaseID]) == 0 {
				continue
			}
			a := apps[m.CaseID][0]
			apps[m.CaseID] = apps[m.CaseID][1:]
			if a.year == year {
				if str("result") == "granted" {
					r.CourtEnforcement.Granted++
				} else {
					r.CourtEnforcement.Denied++
				}
			}
		case "lawsuit.filed":
			suits[m.CaseID] = &lawsuit{year: at.In(loc).Year()}
			if in {
				r.Lawsuits.Filed++
			}
		case "lawsuit.heard":
			s := suits[m.CaseID]
			if s == nil {
				continue
			}
			if !s.heard && s.year == year {
				r.Lawsuits.Heard++
			}
			s.heard = true
			if m.Data["responsible_person_appeared"] == true && !s.appeared {
				s.appeared = true
				if s.year == year {
					r.Lawsuits.ResponsiblePersonAppeared++
				}
			}
		}
	}
	r.CourtEnforcement.Pending = r.CourtEnforcement.Applied - r.CourtEnforcement.Granted - r.CourtEnforcement.Denied
	if r.Lawsuits.Heard > 0 {
		r.Lawsuits.AppearanceRate = float64(r.Lawsuits.ResponsiblePersonAppeared) / float64(r.Lawsuits.Heard)
	}
	return r
}

func compare(t *testing.T, what string, got, want *report.Report) {
	t.Helper()
	g, w := *got, *want
	g.AsOf, g.Checkpoint, g.Zone = report.AsOf{}, nil, ""
	w.AsOf, w.Checkpoint, w.Zone = report.AsOf{}, nil, ""
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(w, "", " ")
		t.Fatalf("%s:\ngot  %s\nwant %s", what, gj, wj)
	}
}

func validate(t *testing.T, recs [][]byte) {
	t.Helper()
	for _, raw := range recs {
		v, err := jsonview.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := catalog.Validate(v, time.Now(), catalog.Options{}); err != nil {
			t.Fatalf("synthetic record %s: %v", raw, err)
		}
	}
}

// TestSyntheticYear generates a year of cases, builds the report through the
// runtime, and compares every figure with the independent oracle, as of the
// whole ledger and as of earlier sizes.
func TestSyntheticYear(t *testing.T) {
	recs := synth.Year(synth.Options{Seed: 7, Cases: 400, Year: 2020, Spill: true})
	validate(t, recs)
	l := projtest.Ledger(t, recs)
	st := projtest.Build(t, l, report.New(report.Config{}))
	sn, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	loc, _ := projections.LoadZone("")
	want := expected(t, recs, 2020, loc)
	if want.CasesOpened.General == 0 || want.CourtEnforcement.Applied == 0 || want.Lawsuits.Heard == 0 || want.PublicationsOnTime == 0 || want.Publications == want.PublicationsOnTime {
		t.Fatalf("synthetic year too thin to test: %+v", want)
	}
	t.Logf("2020 as of %d: %+v", sn.Size, *want)
	for _, year := range []int{2020, 2021} {
		got, err := report.Compute(sn, year, sn.Size)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, fmt.Sprintf("Compute(%d, %d)", year, sn.Size), got, expected(t, recs, year, loc))
	}
	// As of earlier sizes: the same as the oracle over the prefix, every time.
	// Sizes all over the ledger, so that a report is read from a snapshot
	// alone and with every number of deltas after it.
	sizes := []uint64{0, 1, 17, 400, 1234, sn.Size / 2, sn.Size - 1}
	for size := uint64(3); size < sn.Size; size += 211 {
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		got, err := report.Compute(sn, 2020, size)
		if err != nil {
			t.Fatal(err)
		}
		compare(t, fmt.Sprintf("Compute(2020, size=%d)", size), got, expected(t, recs[:size], 2020, loc))
		again, _ := report.Compute(sn, 2020, size)
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("Compute(2020, %d) twice differs", size)
		}
	}
	// Every drill-down adds up to its figure.
	got, _ := report.Compute(sn, 2020, sn.Size)
	for _, f := range report.Figures() {
		items, err := report.Drill(sn, 2020, f.Key, sn.Size)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, it := range items {
			sum += it.Value
			if it.Seq >= sn.Size {
				t.Fatalf("Drill(%s) item seq %d ≥ size %d", f.Key, it.Seq, sn.Size)
			}
		}
		if want := figureValue(t, got, f.Key); sum != want {
			t.Errorf("Drill(%s) sums to %d, figure is %d", f.Key, sum, want)
		}
	}
}

func figureValue(t *testing.T, r *report.Report, key string) int64 {
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		var k, label string
		var v int64
		if bytes.HasPrefix(line, []byte(key+",")) {
			parts := bytes.Split(line, []byte(","))
			k, label = string(parts[0]), string(parts[1])
			fmt.Sscan(string(parts[2]), &v)
			_ = label
			if k == key {
				return v
			}
		}
	}
	t.Fatalf("figure %s not in CSV", key)
	return 0
}

// TestYearBoundary pins which year an entry near New Year belongs to, by
// the agency's zone and not by the offset it was written with.
func TestYearBoundary(t *testing.T) {
	open := func(id int, at string) []byte {
		return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"case.opened","case_id":"0193f09e-1111-7000-8000-%012d","occurred_at":%q,"device":{"id":"D"},"data":{"case_number":"N%d","procedure":"general","category":"dust","parties":[{"kind":"org","name":"某公司"}],"approved_by":"O-1"}}`, id, id, at, id))
	}
	recs := [][]byte{
		open(1, "2020-12-31T23:59:59+08:00"), // 2020 in Shanghai, 2020 in UTC
		open(2, "2020-12-31T16:30:00Z"),      // 2021-01-01T00:30+08:00: 2021 in Shanghai, 2020 in UTC
		open(3, "2021-01-01T00:30:00+08:00"), // the same instant
		open(4, "2021-01-01T07:59:59+08:00"), // 2021 in Shanghai, 2020 in UTC
		open(5, "2021-01-01T08:00:00+08:00"), // 2021 everywhere
		open(6, "2020-01-01T00:00:00+08:00"), // 2020 in Shanghai, 2019 in UTC
	}
	l := projtest.Ledger(t, recs)
	tests := []struct {
		zone string
		want map[int]int64
	}{
		{"Asia/Shanghai", map[int]int64{2019: 0, 2020: 2, 2021: 4}},
		{"UTC", map[int]int64{2019: 1, 2020: 4, 2021: 1}},
		{"America/New_York", map[int]int64{2019: 1, 2020: 5, 2021: 0}},
	}
	for _, tc := range tests {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Skipf("no zone data: %v", err)
		}
		st := projtest.Build(t, l, report.New(report.Config{Location: loc}))
		sn, _ := st.Snapshot()
		for year, want := range tc.want {
			r, err := report.Compute(sn, year, sn.Size)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.CasesOpened.General; got != want {
				t.Errorf("%s: cases_opened.general in %d = %d, want %d", tc.zone, year, got, want)
			}
		}
		sn.Close()
	}
}
