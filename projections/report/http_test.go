package report_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
	"github.com/liuhen/liuhen/projections/report"
)

func TestHandler(t *testing.T) {
	l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 2, Cases: 60}))
	st := projtest.Build(t, l, report.New(report.Config{}))
	srv := httptest.NewServer(report.Handler(st, report.Config{}, l))
	defer srv.Close()
	size := l.Head().Size

	fetch := func(path string, status int, ctype string) []byte {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Fatalf("GET %s = %d %s, want %d %s: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), status, ctype, b)
		}
		return b
	}
	var r report.Report
	json.Unmarshal(fetch("/v1/reports/annual?year=2020", 200, "application/json"), &r)
	root, _ := l.RootAt(size)
	if r.AsOf.Size != size || r.AsOf.Root != ledger.Hex(root) || r.Checkpoint == nil || r.Checkpoint.Size < size || r.Zone != "Asia/Shanghai" {
		t.Errorf("as_of = %+v, checkpoint %+v", r.AsOf, r.Checkpoint)
	}
	if r.CasesOpened.General+r.CasesOpened.Simple == 0 || r.ByCategory["dust"].Name != "施工扬尘" || r.Findings == nil {
		t.Errorf("report = %+v", r)
	}
	// An earlier size: its own root, and the same answer twice.
	a := fetch("/v1/reports/annual?year=2020&size=100", 200, "application/json")
	b := fetch("/v1/reports/annual?year=2020&size=100", 200, "application/json")
	var r100 report.Report
	json.Unmarshal(a, &r100)
	root100, _ := l.RootAt(100)
	if string(a) != string(b) || r100.AsOf.Root != ledger.Hex(root100) {
		t.Errorf("size=100 not reproducible or wrong root: %s", a)
	}
	csv := string(fetch("/v1/reports/annual?year=2020&format=csv", 200, "text/csv"))
	for _, want := range []string{"字段,指标,数值,单位", "负责人出庭应诉率", "decisions.penalty,作出行政处罚决定,"} {
		if !strings.Contains(csv, want) {
			t.Errorf("CSV lacks %q:\n%s", want, csv)
		}
	}
	md := string(fetch("/v1/reports/annual?year=2020&format=md", 200, "text/markdown"))
	if !strings.Contains(md, "# 2020年度行政执法统计") || !strings.Contains(md, "| 决定罚款金额 | ") || !strings.Contains(md, " 元 |") {
		t.Errorf("Markdown:\n%s", md)
	}
	var f report.FigureReport
	json.Unmarshal(fetch("/v1/reports/annual/decisions.penalty?year=2020", 200, "application/json"), &f)
	if f.Value != r.Decisions.Penalty || int64(len(f.Items)) != f.Value || f.Label != "作出行政处罚决定" || f.Cases == 0 {
		t.Errorf("figure = %+v", f)
	}
	var p struct{ Code, Param string }
	for _, tc := range []struct {
		path, code string
		status     int
	}{
		{"/v1/reports/annual?year=x", "bad_parameter", 400},
		{"/v1/reports/annual?size=-1", "bad_parameter", 400},
		{"/v1/reports/annual?format=pdf", "bad_parameter", 400},
		{"/v1/reports/annual?size=99999999", "size_ahead", 409},
		{"/v1/reports/annual/nope", "not_found", 404},
	} {
		json.Unmarshal(fetch(tc.path, tc.status, "application/problem+json"), &p)
		if p.Code != tc.code {
			t.Errorf("GET %s: code %q, want %q", tc.path, p.Code, tc.code)
		}
	}
}
