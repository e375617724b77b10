package console

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestDemoYear runs the console over the demo's year (liuhen demo), as a
// newcomer sees it after `liuhen serve --demo`: every page answers, each
// case opens, and the findings agree with the API.
func TestDemoYear(t *testing.T) {
	st := newStack(t, stackOptions{})
	y := st.populateDemo(25)
	if len(y.cases) < 20 {
		t.Fatalf("demo year has %d cases", len(y.cases))
	}
	c := st.login("auditor")
	for _, path := range []string{"/console/", "/console/cases", "/console/cases?cursor=", "/console/findings",
		"/console/findings?open=all", fmt.Sprintf("/console/report?year=%d", y.year), "/console/devices", "/console/public"} {
		if p := c.get(path); p.status != 200 {
			t.Errorf("GET %s = %d", path, p.status)
		}
	}
	attached := 0
	for _, id := range y.cases {
		p := c.get("/console/cases/" + id)
		if p.status != 200 || !strings.Contains(p.body, `class="verify"`) {
			t.Errorf("GET /console/cases/%s = %d", id, p.status)
		}
		if strings.Contains(p.body, "其他条目所附音像资料") && strings.Contains(p.body, "调阅播放") {
			attached++
		}
	}
	if attached == 0 {
		t.Errorf("no demo case shows the media of its inspections and evidence")
	}
	// The demo year lies mostly in the past: the dashboard charts the last
	// 30 days, or if they are empty the last 30 days with records, never an
	// empty month.
	p := c.get("/console/")
	if m := regexp.MustCompile(`30 天共 (\d+) 条`).FindStringSubmatch(p.body); m == nil || m[1] == "0" {
		t.Errorf("dashboard over the demo year: daily chart %v, want records", m)
	}
	open := st.apiFindings("auditor", "open=true")
	if p := c.get("/console/findings"); !strings.Contains(p.body, fmt.Sprintf(`id="findings-total">%d<`, len(open))) {
		t.Errorf("findings page: total is not the API's %d open findings", len(open))
	}
	if len(open) == 0 {
		t.Errorf("the demo year's deliberate breaches show no open finding")
	}
	r := c.get(fmt.Sprintf("/console/report?year=%d", y.year))
	m := regexp.MustCompile(`data-figure="cases_opened.general">[^<]*</a></td><td class="num">(\d+) 件`).FindStringSubmatch(r.body)
	if m == nil || m[1] == "0" {
		t.Errorf("report of the demo year: cases opened (general procedure) %v, want some", m)
	}
}
