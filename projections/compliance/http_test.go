package compliance_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/compliance"
	"github.com/liuhen/liuhen/projections/report"
)

// newScenario returns a script with one scenario begun, for tests that add
// records with s.record and read with the engine.
func newScenario(t *testing.T, params string) *script {
	t.Helper()
	var p compliance.Params
	if params != "" {
		var err error
		if p, err = compliance.ParseParams([]byte(params)); err != nil {
			t.Fatal(err)
		}
	}
	s := &script{t: t, l: newLedger(t), params: p}
	s.en = newEngine(t, s.l.Ledger, p, 3)
	s.begin(1, t.Name())
	return s
}

func (s *script) add(lines ...string) {
	for _, l := range lines {
		s.record(s.t.Name(), l)
	}
}

func fetch(t *testing.T, h http.Handler, path string, status int, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != status {
		t.Fatalf("GET %s = %d, want %d: %s", path, rec.Code, status, body)
	}
	ct := rec.Header().Get("Content-Type")
	if status >= 400 && ct != "application/problem+json" || status < 400 && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func TestHandler(t *testing.T) {
	s := newScenario(t, "")
	s.add("2020-05-12 10:00 case.opened",
		"2020-05-12 11:00 inspection.recorded @officers=1",
		"2020-05-13 10:00 evidence.preserved @media=video",
		"2020-05-13 10:00 case.opened @case=B",
		"2020-05-14 10:00 measure.imposed @case=B @media=video")
	h := compliance.Handler(s.en.st, s.en.p)
	a := s.cases["A"].String()
	size := s.l.Head().Size

	// Before the preservation's 7 working days pass: one closed finding.
	s.en.setNow(time.Date(2020, 5, 20, 12, 0, 0, 0, cst))
	var cf compliance.CaseFindings
	fetch(t, h, "/v1/cases/"+a+"/findings", 200, &cf)
	if len(cf.Findings) != 1 || cf.Findings[0].Rule != "two-officers" || cf.AsOf.Size != size || cf.CaseID != a {
		t.Fatalf("case findings = %+v", cf)
	}
	var due time.Time
	for _, d := range cf.Deadlines {
		if d.Rule == "preservation-7d" {
			due = d.Due
		}
	}
	// 13 May + 7 working days: 14, 15, 18, 19, 20, 21, 22 May.
	if due.In(cst).Format(time.DateOnly) != "2020-05-22" {
		t.Fatalf("deadlines = %+v, want preservation-7d due 2020-05-22", cf.Deadlines)
	}
	// The clock passes the due date; no entry is added.
	s.en.setNow(time.Date(2020, 5, 23, 0, 0, 1, 0, cst))
	fetch(t, h, "/v1/cases/"+a+"/findings", 200, &cf)
	if len(cf.Findings) != 2 || cf.Findings[1].Rule != "preservation-7d" || !cf.Findings[1].Open || s.l.Head().Size != size {
		t.Fatalf("after the due date: %+v", cf.Findings)
	}

	// Across cases, by rule and state, in pages.
	s.en.setNow(time.Date(2020, 9, 1, 0, 0, 0, 0, cst))
	var all compliance.Page
	fetch(t, h, "/v1/findings?limit=500", 200, &all)
	rules := map[string]int{}
	for _, f := range all.Findings {
		rules[f.Rule]++
		if f.CaseID == "" || f.Message == "" || f.Basis == "" || len(f.Seqs) == 0 {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	want := map[string]int{"two-officers": 1, "preservation-7d": 1, "measure-30d": 1, "decision-90d": 2}
	for r, n := range want {
		if rules[r] != n {
			t.Errorf("GET /v1/findings: %d %s, want %d (all: %v)", rules[r], r, n, rules)
		}
	}
	if all.Findings[0].Open != true || all.Findings[len(all.Findings)-1].Open != false {
		t.Errorf("open findings should come first: %+v", all.Findings)
	}
	var paged []projections.Finding
	next := ""
	for i := 0; ; i++ {
		var p compliance.Page
		fetch(t, h, "/v1/findings?limit=2&cursor="+next, 200, &p)
		paged = append(paged, p.Findings...)
		if p.Next == "" {
			break
		}
		next = p.Next
		if i > 10 {
			t.Fatal("paging does not end")
		}
	}
	if gj, wj := mustJSON(paged), mustJSON(all.Findings); gj != wj {
		t.Errorf("pages of 2 differ from one page:\n%s\n%s", gj, wj)
	}
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"rule=decision-90d", 2},
		{"rule=decision-90d&open=true", 2},
		{"rule=decision-90d&open=false", 0},
		{"open=false", 1},
		{"severity=violation&open=true", 4},
		{"severity=warning", 0},
		{"rule=publish-7wd", 0},
	} {
		var p compliance.Page
		fetch(t, h, "/v1/findings?"+tc.q, 200, &p)
		if len(p.Findings) != tc.want {
			t.Errorf("GET /v1/findings?%s: %d findings, want %d: %+v", tc.q, len(p.Findings), tc.want, p.Findings)
		}
	}
	// Day 76 of case A: a warning for decision-90d, no violation yet.
	s.en.setNow(time.Date(2020, 7, 27, 12, 0, 0, 0, cst))
	var warn compliance.Page
	fetch(t, h, "/v1/findings?rule=decision-90d&severity=warning", 200, &warn)
	if len(warn.Findings) != 1 || warn.Findings[0].CaseID != a {
		t.Errorf("warnings at day 76: %+v", warn.Findings)
	}

	for _, q := range []string{"rule=nope", "open=yes", "severity=fatal", "limit=0", "limit=501", "limit=x", "cursor=!!!", "cursor=YWJj"} {
		var p projections.Problem
		fetch(t, h, "/v1/findings?"+q, 400, &p)
		if p.Code != projections.CodeBadParameter || p.Param == "" {
			t.Errorf("GET /v1/findings?%s: %+v", q, p)
		}
	}
	var p projections.Problem
	fetch(t, h, "/v1/cases/nope/findings", 400, &p)
	if p.Code != projections.CodeBadParameter || p.Param != "case_id" {
		t.Errorf("bad case id: %+v", p)
	}
	fetch(t, h, "/v1/cases/0193f09e-1111-7000-8000-0000000000ff/findings", 404, &p)
	if p.Code != projections.CodeNotFound {
		t.Errorf("unknown case: %+v", p)
	}
	var rs compliance.RuleSet
	fetch(t, h, "/v1/findings/rules", 200, &rs)
	if len(rs.Rules) != 18 || rs.Params.Decision.Days != 90 || rs.Params.Publish.Unit != "working" || len(rs.Calendar) != 8 || rs.Version == 0 {
		t.Errorf("rules = %+v", rs)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCaseFile: the case file shows the findings and takes the rules'
// deadlines (here 7 working days for preservation, where the built-in
// deadline counts 7 calendar days).
func TestCaseFile(t *testing.T) {
	s := newScenario(t, "")
	s.add("2020-09-28 10:00 case.opened", "2020-09-28 11:00 evidence.preserved @officers=1 @media=video")
	now := time.Date(2020, 10, 10, 12, 0, 0, 0, cst)
	h := casefile.Handler(s.en.st, casefile.Config{Compliance: s.en.p, Now: func() time.Time { return now }})
	var v casefile.View
	fetch(t, h, "/v1/cases/"+s.cases["A"].String(), 200, &v)
	if len(v.Findings) != 1 || v.Findings[0].Rule != "two-officers" {
		t.Errorf("findings = %+v", v.Findings)
	}
	got := map[string]string{}
	for _, d := range v.Deadlines {
		got[d.Rule] = d.Due.In(cst).Format(time.DateOnly)
	}
	// 28 September + 7 working days: 29, 30 September, 9, 10 (Saturday), 12, 13, 14 October.
	// Day 90 is Sunday 27 December: the period ends on Monday 28.
	if got["preservation-7d"] != "2020-10-14" || got["decision-90d"] != "2020-12-28" || len(got) != 2 {
		t.Errorf("deadlines = %v", got)
	}
	plain := casefile.Handler(s.en.st, casefile.Config{Now: func() time.Time { return now }})
	fetch(t, plain, "/v1/cases/"+s.cases["A"].String(), 200, &v)
	if len(v.Findings) != 0 {
		t.Errorf("without compliance: findings = %+v", v.Findings)
	}
}

// TestReport: the annual report counts findings by rule in the year they
// show, with drill-downs; as of an earlier size it gives the same answer
// before and after later entries change the findings.
func TestReport(t *testing.T) {
	s := newScenario(t, `{"disabled": ["late-upload"]}`)
	s.add("2020-05-12 10:00 case.opened", "2020-05-12 11:00 inspection.recorded @officers=1")
	n1 := s.l.Head().Size
	now := time.Date(2021, 3, 1, 0, 0, 0, 0, cst)
	h := report.Handler(s.en.st, report.Config{Findings: s.en.p, Now: func() time.Time { return now }}, nil)
	var r report.Report
	fetch(t, h, "/v1/reports/annual?year=2020", 200, &r)
	if r.Findings["decision-90d"] != 1 || r.Findings["two-officers"] != 1 || len(r.Findings) != 2 {
		t.Fatalf("findings = %v", r.Findings)
	}
	// The decision comes in time but late to the ledger: as of now there is
	// no decision-90d finding; as of n1 there still is.
	s.add("2020-08-01 10:00 decision.made outcome=transfer penalties=[] fine_fen=0 @recorded=+2000h")
	r = report.Report{}
	fetch(t, h, "/v1/reports/annual?year=2020", 200, &r)
	if r.Findings["decision-90d"] != 0 || r.Findings["two-officers"] != 1 {
		t.Errorf("after the decision: findings = %v", r.Findings)
	}
	var old report.Report
	fetch(t, h, "/v1/reports/annual?year=2020&size="+itoa(n1), 200, &old)
	if old.Findings["decision-90d"] != 1 || old.Findings["two-officers"] != 1 {
		t.Errorf("as of size %d: findings = %v", n1, old.Findings)
	}
	var fig report.FigureReport
	fetch(t, h, "/v1/reports/annual/findings.decision-90d?year=2020&size="+itoa(n1), 200, &fig)
	if fig.Value != 1 || len(fig.Items) != 1 || fig.Items[0].CaseID != s.cases["A"].String() || fig.Items[0].Seq != s.seqs[0] || fig.Cases != 1 {
		t.Errorf("drill-down = %+v", fig)
	}
	fig = report.FigureReport{}
	fetch(t, h, "/v1/reports/annual/findings.two-officers?year=2021", 200, &fig)
	if fig.Value != 0 || len(fig.Items) != 0 {
		t.Errorf("2021 drill-down = %+v", fig)
	}
	// On 1 August 2020 the period had not ended: a warning (day 76 on);
	// on 1 July, nothing yet.
	for _, tc := range []struct {
		now  time.Time
		want int64
	}{{time.Date(2020, 8, 1, 0, 0, 0, 0, cst), 1}, {time.Date(2020, 7, 1, 0, 0, 0, 0, cst), 0}} {
		now = tc.now
		var then report.Report
		fetch(t, h, "/v1/reports/annual?year=2020&size="+itoa(n1), 200, &then)
		if then.Findings["decision-90d"] != tc.want {
			t.Errorf("as of size %d on %s: %v", n1, now.Format(time.DateOnly), then.Findings)
		}
	}
}

func itoa(n uint64) string { return strings.TrimSpace(strings.ReplaceAll(mustJSON(n), `"`, "")) }

// TestCaseWithoutRules: a case whose entries no rule reads is still known.
func TestCaseWithoutRules(t *testing.T) {
	s := newScenario(t, "")
	s.add("2020-05-12 09:00 case.registered")
	var cf compliance.CaseFindings
	fetch(t, compliance.Handler(s.en.st, s.en.p), "/v1/cases/"+s.cases["A"].String()+"/findings", 200, &cf)
	if len(cf.Findings) != 0 || len(cf.Deadlines) != 0 {
		t.Errorf("findings = %+v", cf)
	}
}
