package compliance_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/demo"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/compliance"
)

// demoParams are the demo agency's parameters: its major-decision list is
// a fine of 20,000 元 or more, and it reads the 7-day and 3-day periods of
// 行政处罚法 as calendar days (the demo's breaches say 超过七日).
const demoParams = `{
	"major": {"person_fine_fen": 2000000, "org_fine_fen": 2000000},
	"preservation_7d": {"unit": "calendar"},
	"service_7d": {"unit": "calendar"},
	"withdraw_3d": {"unit": "calendar"},
	"hearing": {"notice_lead": {"unit": "calendar"}}
}`

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
	{"催告后未满十日即申请法院强制执行", "court-enforcement/reminder-short"},
	{"在法定节假日（星期日）实施强制拆除", "no-night-holiday-enforcement/rest-day|holiday"},
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
	late     bool
	data     map[string]any
	media    []map[string]any
}

// TestDemoYear feeds the demo year (internal/demo: what liuhen demo and
// liuhen serve --demo post) through the engine, with devices syncing within
// minutes and the demo's late records synced after all the others. Each
// deliberate breach is found in its case. Every other finding is one the
// demo's data really holds, checked here against the raw records: a
// deliberate late upload (late-upload/late, and the device.seq gap it
// leaves), the 4-minute camera clock, an unpaid fine taken to court
// (payment-15d, the party's default), or one of the demo's own artefacts
// listed in artefact below, which the generator should stop producing:
// they are real breaches of the data it writes.
func TestDemoYear(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, cst)
	y := demo.Generate(demo.Options{Now: now})
	l := newLedger(t)
	var last time.Time
	var recs []*demoRec
	bySeq := map[uint64]*demoRec{}
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
			Data  map[string]any   `json:"data"`
			Media []map[string]any `json:"media"`
		}
		if err := json.Unmarshal(r.Raw, &m); err != nil {
			t.Fatal(err)
		}
		d := &demoRec{seq: l.append(t, r.Raw, at), typ: m.Type, caseID: m.CaseID, at: r.At, recorded: at,
			device: m.Device.ID, devSeq: m.Device.Seq, late: r.Late, data: m.Data, media: m.Media}
		recs = append(recs, d)
		bySeq[d.seq] = d
		if d.caseID != "" {
			byCase[d.caseID] = append(byCase[d.caseID], d)
		}
		if d.typ == "case.opened" {
			caseNo[d.data["case_number"].(string)] = d.caseID
		}
	}
	params, err := compliance.ParseParams([]byte(demoParams))
	if err != nil {
		t.Fatal(err)
	}
	en := newEngine(t, l.Ledger, params, 1000)
	found := en.all(t, compliance.Filter{}, now)

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
		if matched {
			continue
		}
		if why := artefact(f, bySeq, byCase[f.CaseID]); why != "" {
			kinds["  ↳ "+why]++
			continue
		}
		t.Errorf("unexpected finding in %s: %s/%s %s (seqs %v)", caseNumber(byCase[f.CaseID]), f.Rule, f.Check, f.Message, f.Seqs)
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

func sameDay(a, b time.Time) bool {
	return a.In(cst).Format(time.DateOnly) == b.In(cst).Format(time.DateOnly)
}

// artefact names the demo artefact a finding comes from, checked on the
// raw records, or "" if it is none of them.
func artefact(f projections.Finding, bySeq map[uint64]*demoRec, rs []*demoRec) string {
	ref := bySeq[f.Seqs[0]]
	firstOf := func(typ string, after time.Time) *demoRec {
		for _, r := range rs {
			if r.typ == typ && r.at.After(after) {
				return r
			}
		}
		return nil
	}
	anyOf := func(pred func(*demoRec) bool) bool {
		for _, r := range rs {
			if pred(r) {
				return true
			}
		}
		return false
	}
	switch f.Rule + "/" + f.Check {
	case "filed-before-investigation/before-filing":
		// The demo draws a new hour of day for each step: on the day of
		// 立案, an inquiry can come out before it.
		if opened := bySeq[f.Seqs[1]]; sameDay(ref.at, opened.at) {
			return "a step drawn earlier on the same day as 立案"
		}
	case "notice-before-decision/early":
		notice := bySeq[f.Seqs[1]]
		if anyOf(func(r *demoRec) bool {
			return (r.typ == "statement.recorded" || r.typ == "statement.waived") && sameDay(r.at, notice.at) && r.at.Before(notice.at)
		}) {
			return "a statement or waiver drawn earlier on the day of the notice"
		}
	case "service-7d/missing":
		if anyOf(func(r *demoRec) bool {
			return r.typ == "document.served" && sameDay(r.at, ref.at) && r.at.Before(ref.at)
		}) {
			return "the service drawn earlier on the day of the decision"
		}
	case "withdraw-3d/missing":
		if anyOf(func(r *demoRec) bool {
			return r.typ == "publication.withdrawn" && sameDay(r.at, ref.at) && r.at.Before(ref.at)
		}) {
			return "the withdrawal drawn earlier on the day of the revocation"
		}
		// Art 48(2) asks for withdrawal after a change too; the demo
		// withdraws only revoked decisions.
		if ref.data["result"] == "changed" && !anyOf(func(r *demoRec) bool { return r.typ == "publication.withdrawn" }) {
			return "a publication left up after the decision was changed"
		}
	case "payment-15d/unpaid":
		// The demo's unpaid fines, taken to court: the party's default,
		// on purpose (a warning, closed by the application).
		if !f.Open && anyOf(func(r *demoRec) bool { return r.typ == "enforcement.applied" }) {
			return "consequence: an unpaid fine taken to court"
		}
	case "close-preconditions/unpaid", "close-preconditions/unpublished", "close-preconditions/measure-open":
		closed := bySeq[f.Seqs[len(f.Seqs)-1]]
		typ := map[string]string{"unpaid": "payment.received", "unpublished": "decision.published", "measure-open": "measure.released"}[f.Check]
		if firstOf(typ, closed.at) != nil {
			return "the case closed before its " + typ
		}
	case "court-enforcement/premature":
		// The demo applies a month or two after service; the challenge
		// periods (诉讼 6 months) have not ended.
		served := firstOf("document.served", ref.at.AddDate(0, -12, 0))
		if served != nil && ref.at.Before(served.at.AddDate(0, 6, 0)) {
			return "a court application before the challenge periods end"
		}
	case "av-coverage/missing":
		if ref.typ == "evidence.preserved" && allPhotos(ref.media) {
			return "先行登记保存 photographed, not filmed"
		}
	}
	return ""
}

func allPhotos(ms []map[string]any) bool {
	for _, m := range ms {
		if ct, _ := m["content_type"].(string); !strings.HasPrefix(ct, "image/") {
			return false
		}
	}
	return true
}
