// Package synth generates a synthetic year of 城管 cases as ledger records,
// deterministically from a seed, for tests and benchmarks. Every record is
// valid under the event catalogue.
package synth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
)

// Options shapes a generated year.
type Options struct {
	Seed  uint64
	Cases int // cases opened; default 300
	Year  int // default 2020
	// Spill puts some cases' first entries in the last hours of the year
	// before and last entries in the next year, with UTC and +08:00 offsets.
	Spill bool
}

type rec struct {
	at  time.Time
	n   int // tie-break: generation order
	raw []byte
}

// Year returns the records of a year, ordered by occurred_at.
func Year(o Options) [][]byte {
	if o.Cases == 0 {
		o.Cases = 300
	}
	if o.Year == 0 {
		o.Year = 2020
	}
	g := &gen{rng: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)), loc: time.FixedZone("CST", 8*3600)}
	start := time.Date(o.Year, 1, 1, 8, 0, 0, 0, g.loc)
	for i := range o.Cases {
		t := start.Add(time.Duration(g.rng.Int64N(int64(360 * 24 * time.Hour))))
		if o.Spill && i%25 == 0 {
			// 2020-12-31T16:30Z is 2021-01-01T00:30+08:00.
			t = time.Date(o.Year, 12, 31, 23, 30, 0, 0, g.loc).Add(time.Duration(i%50) * time.Minute)
		}
		g.kase(i, t, o.Year)
	}
	sort.SliceStable(g.recs, func(i, j int) bool {
		if !g.recs[i].at.Equal(g.recs[j].at) {
			return g.recs[i].at.Before(g.recs[j].at)
		}
		return g.recs[i].n < g.recs[j].n
	})
	out := make([][]byte, len(g.recs))
	for i, r := range g.recs {
		out[i] = r.raw
	}
	return out
}

type gen struct {
	rng  *rand.Rand
	loc  *time.Location
	recs []rec
	dev  int64
}

func (g *gen) id() string {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(g.rng.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "欧阳", "司马"}
var given = []string{"建国", "秀英", "伟", "芳", "磊", "静", "强", "敏"}

var officers = []map[string]any{
	{"id": "O-0012", "cert_no": "14050020190012", "name": "王某"},
	{"id": "O-0031", "cert_no": "14050020190031", "name": "李某"},
	{"id": "O-0044", "cert_no": "14050020190044", "name": "赵某"},
	{"id": "O-0057", "cert_no": "14050020190057", "name": "孙某"},
}

// emit adds a record of type typ at t. caseID "" means none.
func (g *gen) emit(t time.Time, typ, caseID string, data map[string]any, media bool) string {
	id := g.id()
	g.dev++
	r := map[string]any{
		"id": id, "type": typ, "occurred_at": g.stamp(t),
		"device":   map[string]any{"id": "ZFY-140500-0007", "seq": g.dev},
		"officers": []any{officers[g.rng.IntN(2)], officers[2+g.rng.IntN(2)]},
	}
	if caseID != "" {
		r["case_id"] = caseID
	}
	if data != nil {
		r["data"] = data
	}
	if media {
		r["media"] = []any{map[string]any{"sha256": fmt.Sprintf("%064x", g.rng.Uint64()), "size": 1 << 20, "content_type": "video/mp4"}}
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	g.recs = append(g.recs, rec{at: t, n: len(g.recs), raw: b})
	return id
}

// stamp writes t with +08:00 or, one time in four, in UTC.
func (g *gen) stamp(t time.Time) string {
	if g.rng.IntN(4) == 0 {
		return t.UTC().Format(time.RFC3339)
	}
	return t.In(g.loc).Format(time.RFC3339)
}

func (g *gen) person() map[string]any {
	name := surnames[g.rng.IntN(len(surnames))] + given[g.rng.IntN(len(given))]
	p := map[string]any{"kind": catalog.PartyPerson, "name": name, "address": "城区某路" + fmt.Sprint(g.rng.IntN(200)) + "号"}
	birth := 1960 + g.rng.IntN(45)
	if g.rng.IntN(40) == 0 {
		birth = 2006 // a minor in 2020
	}
	p["id_number"] = fmt.Sprintf("140502%04d0101%03d%d", birth, g.rng.IntN(1000), g.rng.IntN(10))
	return p
}

func (g *gen) days(t time.Time, lo, hi int) time.Time {
	return t.Add(time.Duration(lo)*24*time.Hour + time.Duration(g.rng.Int64N(int64(hi-lo+1)*int64(24*time.Hour))))
}

// kase generates one case starting at t.
func (g *gen) kase(i int, t time.Time, year int) {
	c := g.id()
	cats := catalog.Categories()
	cat := cats[g.rng.IntN(len(cats))].Code
	simple := g.rng.IntN(5) == 0
	proc := catalog.ProcedureGeneral
	if simple {
		proc = catalog.ProcedureSimple
	}
	var party map[string]any
	if g.rng.IntN(3) == 0 {
		party = map[string]any{"kind": catalog.PartyOrg, "name": fmt.Sprintf("晋城市某某建筑有限公司%d", i), "id_number": "91140500MA0XXXXX1" + fmt.Sprint(i%10)}
	} else {
		party = g.person()
	}
	name := party["name"].(string)
	// A recording made before the case was known, linked later.
	var recID string
	if g.rng.IntN(3) == 0 {
		recID = g.emit(t.Add(-30*time.Minute), "recording.made", "", map[string]any{
			"started_at": g.stamp(t.Add(-30 * time.Minute)), "ended_at": g.stamp(t.Add(-10 * time.Minute)), "interruptions": []any{},
		}, true)
	}
	g.emit(t, "case.registered", c, map[string]any{"source": catalog.SourcePatrol, "summary": name + "在人行道上" + cat + "，联系电话13812345678"}, false)
	t = g.days(t, 0, 2)
	g.emit(t, "case.opened", c, map[string]any{
		"case_number": fmt.Sprintf("晋市城管立字〔%d〕第%d号", year, i+1), "procedure": proc, "category": cat,
		"parties": []any{party}, "approved_by": "O-0001",
	}, false)
	t = g.days(t, 0, 3)
	g.emit(t, "inspection.recorded", c, map[string]any{"document_no": fmt.Sprintf("晋市城管检字〔%d〕第%d号", year, i+1), "findings": "现场检查"}, true)
	if recID != "" {
		g.emit(t.Add(time.Hour), "recording.linked", c, map[string]any{"case_id": c, "events": []any{recID}}, false)
	}
	if g.rng.IntN(6) == 0 {
		t = g.days(t, 0, 2)
		g.emit(t, "measure.imposed", c, map[string]any{"kind": catalog.MeasureSeize, "items": []any{"三轮车一辆"}, "term_days": 30, "emergency": false, "approved_by": "O-0001"}, true)
		t = g.days(t, 5, 25)
		g.emit(t, "measure.released", c, map[string]any{"reason": "案件已作出处理决定"}, false)
	}
	fine := int64(5000 + g.rng.IntN(200)*100)
	if !simple {
		fine = int64(50000 + g.rng.IntN(5000)*1000)
	}
	major := !simple && g.rng.IntN(4) == 0
	outcome := catalog.OutcomePenalty
	switch g.rng.IntN(12) {
	case 0:
		outcome = catalog.OutcomeNoPenalty
	case 1:
		outcome = catalog.OutcomeTransfer
	}
	if outcome != catalog.OutcomePenalty {
		fine = 0
	}
	if !simple {
		t = g.days(t, 3, 20)
		g.emit(t, "investigation.concluded", c, map[string]any{"summary": "经查，" + name + "（身份证号略）违法事实清楚"}, false)
		t = g.days(t, 1, 5)
		hearing := fine >= 2000000 && g.rng.IntN(2) == 0
		g.emit(t, "notice.served", c, map[string]any{"intended": map[string]any{"penalties": []any{catalog.PenaltyFine}, "fine_fen": fine}, "hearing_right": fine >= 2000000, "method": catalog.MethodDirect}, true)
		if hearing {
			t = g.days(t, 1, 3)
			g.emit(t, "hearing.requested", c, nil, false)
			t = g.days(t, 1, 2)
			hat := g.days(t, 8, 12)
			g.emit(t, "hearing.notified", c, map[string]any{"hearing_at": g.stamp(hat)}, false)
			t = hat
			g.emit(t, "hearing.held", c, map[string]any{"chair": "O-0090"}, true)
		} else if g.rng.IntN(2) == 0 {
			t = g.days(t, 1, 4)
			g.emit(t, "statement.recorded", c, map[string]any{"summary": "当事人陈述"}, false)
		} else {
			t = g.days(t, 0, 1)
			g.emit(t, "statement.waived", c, nil, false)
		}
		if major || hearing {
			t = g.days(t, 1, 5)
			g.emit(t, "review.completed", c, map[string]any{"reviewer": "O-0088", "result": catalog.ReviewApproved}, false)
			t = g.days(t, 1, 3)
			g.emit(t, "discussion.held", c, map[string]any{"attendees": []any{"O-0001", "O-0002"}, "conclusion": "同意"}, false)
		}
		t = g.days(t, 1, 10)
	}
	pen := []any{}
	if outcome == catalog.OutcomePenalty {
		pen = []any{catalog.PenaltyFine}
	}
	docNo := fmt.Sprintf("晋市城管罚字〔%d〕第%d号", year, i+1)
	decID := g.emit(t, "decision.made", c, map[string]any{
		"outcome": outcome, "penalties": pen, "fine_fen": fine, "legal_basis": []any{"《城市市容和环境卫生管理条例》第三十六条"},
		"document_no": docNo, "major": major,
	}, false)
	_ = decID
	if !simple {
		t = g.days(t, 0, 6)
		g.emit(t, "document.served", c, map[string]any{"document": catalog.DocumentDecision, "method": catalog.MethodDirect, "recipient": name}, true)
	}
	published := false
	if outcome == catalog.OutcomePenalty && !simple {
		pt := g.days(t, 1, 12)
		g.emit(pt, "decision.published", c, map[string]any{"document_no": docNo, "channel": "门户网站"}, false)
		published = true
	}
	if outcome == catalog.OutcomePenalty {
		switch g.rng.IntN(6) {
		case 0: // unpaid: remind, then court
			t = g.days(t, 20, 40)
			g.emit(t, "reminder.served", c, map[string]any{"deadline": t.AddDate(0, 0, 10).In(g.loc).Format(time.DateOnly)}, true)
			t = g.days(t, 15, 30)
			g.emit(t, "enforcement.applied", c, map[string]any{"court": "城区人民法院"}, false)
			if g.rng.IntN(3) > 0 {
				t = g.days(t, 10, 60)
				res := catalog.RulingGranted
				if g.rng.IntN(4) == 0 {
					res = catalog.RulingDenied
				}
				g.emit(t, "enforcement.ruled", c, map[string]any{"result": res}, false)
			}
		case 1: // partial
			t = g.days(t, 1, 14)
			g.emit(t, "payment.received", c, map[string]any{"amount_fen": fine / 2, "receipt_no": fmt.Sprintf("R%d-1", i)}, false)
		default:
			t = g.days(t, 1, 14)
			g.emit(t, "payment.received", c, map[string]any{"amount_fen": fine, "receipt_no": fmt.Sprintf("R%d", i)}, false)
		}
	}
	if g.rng.IntN(10) == 0 {
		t = g.days(t, 5, 30)
		g.emit(t, "reconsideration.filed", c, map[string]any{"body": "晋城市人民政府"}, false)
		t = g.days(t, 20, 60)
		res := catalog.ReconsiderationUpheld
		if g.rng.IntN(2) == 0 {
			res = catalog.ReconsiderationRevoked
		}
		g.emit(t, "reconsideration.decided", c, map[string]any{"result": res}, false)
		if res == catalog.ReconsiderationRevoked && published {
			t = g.days(t, 0, 2)
			g.emit(t, "publication.withdrawn", c, map[string]any{"reason": "处罚决定被撤销"}, false)
		}
	}
	if g.rng.IntN(15) == 0 {
		t = g.days(t, 5, 30)
		g.emit(t, "lawsuit.filed", c, map[string]any{"court": "城区人民法院"}, false)
		if g.rng.IntN(5) > 0 {
			t = g.days(t, 20, 60)
			g.emit(t, "lawsuit.heard", c, map[string]any{"responsible_person_appeared": g.rng.IntN(5) > 0, "appeared": "赵某 局长"}, false)
		}
	}
	t = g.days(t, 1, 10)
	g.emit(t, "case.closed", c, map[string]any{"reason": "执行完毕"}, false)
}
