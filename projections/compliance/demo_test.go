package compliance_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/demo"
	"github.com/liuhen/liuhen/projections/compliance"
)

// breachRules maps the demo's deliberate breaches (demo.Year.Breaches) to
// the finding each must produce.
var breachRules = []struct{ text, finding string }{
	{"现场检查仅一名执法人员", "two-officers/officers"},
	{"先行登记保存超过七日未作处理决定", "preservation-7d/late"},
	{"扣押超过三十日且未经批准延长", "measure-30d/late"},
	{"未经事先告知即作出处罚决定", "notice-before-decision/missing"},
	{"听证主持人为本案调查人员", "hearing/chair"},
	{"法制审核人员为本案调查人员", "legal-review/reviewer"},
	{"重大执法决定未经法制审核", "legal-review/missing"},
	{"处罚决定书未在七日内送达", "service-7d/late"},
	{"未在七个工作日内公示", "publish-7wd/late"},
	{"逾期未公示", "publish-7wd/missing"},
	{"催告后未满十日即申请法院强制执行", "court-enforcement/reminder-short"},
	{"在法定节假日（星期日）实施强制拆除", "no-night-holiday-enforcement/rest-day|holiday"},
	{"当事人逾期未缴纳罚款", "payment-15d/unpaid"},
}

// demoRec is a demo record as the test reads it back.
type demoRec struct {
	seq      uint64
	typ      string
	caseID   string
	at       time.Time
	recorded time.Time
	device   string
	devSeq   int64
	data     map[string]any
}

// TestDemoYear feeds the demo year (internal/demo: what liuhen demo and
// liuhen serve --demo post) through the engine with the national default
// parameters (working days where 行政处罚法 Art 85 and 行政强制法 Art 69 say
// so, the default list of major decisions), with devices syncing within
// minutes and the demo's late records synced after all the others. Each
// deliberate breach (demo.Year.Breaches) is found in its case, and so are
// the deliberate late uploads (late-upload/late, and the device.seq gap
// each leaves) and the camera whose clock ran 4 minutes fast, checked here
// against the raw records. Nothing else is found. The year is generated to
// its end (Now a year and a half later), and read once every record is in.
func TestDemoYear(t *testing.T) {
	y := demo.Generate(demo.Options{Now: time.Date(2027, 6, 1, 0, 0, 0, 0, cst)})
	l := newLedger(t)
	var last time.Time
	var recs []*demoRec
	byCase := map[string][]*demoRec{}
	caseNo := map[string]string{} // case number → case id
	for _, r := range y.Records {
		at := r.At.Add(5 * time.Minute)
		if r.Late || at.Before(last) {
			at = last.Add(time.Hour)
		}
		last = at
		var m struct {
			Type   string `json:"type"`
			CaseID string `json:"case_id"`
			Device struct {
				ID  string
				Seq int64
			}
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.Raw, &m); err != nil {
			t.Fatal(err)
		}
		d := &demoRec{seq: l.append(t, r.Raw, at), typ: m.Type, caseID: m.CaseID, at: r.At, recorded: at,
			device: m.Device.ID, devSeq: m.Device.Seq, data: m.Data}
		recs = append(recs, d)
		if d.caseID != "" {
			byCase[d.caseID] = append(byCase[d.caseID], d)
		}
		if d.typ == "case.opened" {
			caseNo[d.data["case_number"].(string)] = d.caseID
		}
	}
	en := newEngine(t, l.Ledger, compliance.Params{}, 1000)
	found := en.all(t, compliance.Filter{}, last.Add(time.Hour))

	// What the demo says it did on purpose.
	want := map[string]int{} // case id + " " + rule/check alternatives
	for _, b := range y.Breaches {
		no, text, _ := strings.Cut(b, ": ")
		rule := ""
		for _, br := range breachRules {
			if strings.Contains(text, br.text) {
				rule = br.finding
			}
		}
		if rule == "" {
			t.Fatalf("demo breach %q has no expected finding: add it to breachRules", b)
		}
		want[caseNo[no]+" "+rule]++
	}
	// Deliberate late uploads and the camera clock.
	lastSeq := map[string]int64{}
	for _, r := range recs {
		if r.recorded.Sub(r.at) > 24*time.Hour {
			want[r.caseID+" late-upload/late "+fmt.Sprint(r.seq)]++
		}
		if l, ok := lastSeq[r.device]; ok && r.devSeq > l+1 {
			want[r.caseID+" late-upload/seq-gap "+fmt.Sprint(r.seq)]++
		}
		lastSeq[r.device] = max(lastSeq[r.device], r.devSeq)
		if r.typ == "device.clock_observed" {
			if off, _ := r.data["offset_ms"].(float64); off > 60000 || off < -60000 {
				want[" late-upload/clock-offset "+fmt.Sprint(r.seq)]++
			}
		}
	}

	kinds := map[string]int{}
	for _, f := range found {
		key := f.Rule + "/" + f.Check
		kinds[key]++
		alts := []string{f.CaseID + " " + key, f.CaseID + " " + f.Rule + "/rest-day|holiday", f.CaseID + " " + key + " " + fmt.Sprint(f.Seqs[0])}
		matched := false
		for _, k := range alts {
			if want[k] > 0 {
				want[k]--
				matched = true
				break
			}
		}
		if !matched {
			t.Errorf("unexpected finding in %s: %s/%s %s (seqs %v)", caseNumber(byCase[f.CaseID]), f.Rule, f.Check, f.Message, f.Seqs)
		}
	}
	var missed []string
	for k, n := range want {
		if n > 0 {
			missed = append(missed, k)
		}
	}
	sort.Strings(missed)
	for _, k := range missed {
		t.Errorf("deliberate breach not found: %s", k)
	}
	// The demo shows several rules, not one.
	rules := map[string]bool{}
	for k := range kinds {
		rules[strings.Split(k, "/")[0]] = true
	}
	if len(rules) < 10 {
		t.Errorf("findings of %d rules, want at least 10: %v", len(rules), kinds)
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(ks)
	t.Logf("%d records, %d deliberate breaches, %d findings:\n  %s", len(recs), len(y.Breaches), len(found), strings.Join(ks, "\n  "))
}

func caseNumber(rs []*demoRec) string {
	for _, r := range rs {
		if r.typ == "case.opened" {
			return r.data["case_number"].(string)
		}
	}
	return "(no case)"
}
