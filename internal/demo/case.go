package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
)

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// category describes one kind of case: how often, what was found, the
// legal basis and the fines (fen).
type category struct {
	code, found, basis string
	weight             int
	fineLo, fineHi     int64
}

var categories = []category{
	{catalog.CategoryStreetVending, "在人行道上摆摊经营水果，占用人行道约6平方米", "《城市市容和环境卫生管理条例》第十四条、第三十六条", 30, 5000, 50000},
	{catalog.CategoryIllegalConstruction, "未取得建设工程规划许可证，在自家屋顶搭建彩钢板房约40平方米", "《中华人民共和国城乡规划法》第四十条、第六十四条", 12, 1000000, 5000000},
	{catalog.CategoryOutdoorAdvertising, "未经批准在建筑物外立面设置户外广告牌", "《城市市容和环境卫生管理条例》第十一条、第三十六条", 10, 50000, 500000},
	{catalog.CategoryConstructionWaste, "运输建筑垃圾车辆未密闭，沿途撒漏", "《城市建筑垃圾管理规定》第十四条、第二十三条", 10, 500000, 3000000},
	{catalog.CategoryDust, "施工工地未采取覆盖、洒水等防尘措施", "《中华人民共和国大气污染防治法》第六十九条、第一百一十五条", 8, 1000000, 10000000},
	{catalog.CategoryWasteSorting, "未按规定分类投放生活垃圾", "《城市生活垃圾管理办法》第十六条、第四十二条", 8, 5000, 100000},
	{catalog.CategorySpittingLittering, "随地吐痰、乱扔烟头", "《城市市容和环境卫生管理条例》第三十四条", 6, 2000, 5000},
	{catalog.CategoryGreenery, "擅自砍伐、损毁城市绿地树木", "《城市绿化条例》第二十条、第二十六条", 6, 100000, 1000000},
	{catalog.CategoryRoadOccupation, "未经批准挖掘城市道路", "《城市道路管理条例》第二十九条、第四十二条", 6, 200000, 2000000},
	{catalog.CategoryOther, "其他违反市容环境卫生管理规定的行为", "《城市市容和环境卫生管理条例》第三十六条", 4, 5000, 200000},
}

func (g *gen) pickCategory() category {
	total := 0
	for _, c := range categories {
		total += c.weight
	}
	n := g.rng.IntN(total)
	for _, c := range categories {
		if n < c.weight {
			return c
		}
		n -= c.weight
	}
	return categories[0]
}

var surnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "欧阳", "司马"}
var given = []string{"建国", "秀英", "伟", "芳", "磊", "静", "强", "敏", "志明", "春花"}

// party returns a party of case i: an organisation, or an adult (aged 19
// to 64 in the year: the decisions on minors are not published).
func (g *gen) party(i int, cat string) map[string]any {
	if cat == catalog.CategoryConstructionWaste || cat == catalog.CategoryDust || g.rng.IntN(4) == 0 {
		return map[string]any{"kind": catalog.PartyOrg, "name": fmt.Sprintf("晋城市%s建筑工程有限公司", []string{"恒达", "鑫源", "宏泰", "华晋", "泽州"}[i%5]),
			"id_number": fmt.Sprintf("91140500MA0%06dX", 100000+i)}
	}
	return map[string]any{"kind": catalog.PartyPerson, "name": surnames[g.rng.IntN(len(surnames))] + given[g.rng.IntN(len(given))],
		"id_number": fmt.Sprintf("140502%04d%02d%02d%03d%d", g.year-64+g.rng.IntN(45), 1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(1000), g.rng.IntN(10))}
}

// kase generates case i, starting at t.
func (g *gen) kase(i int, t time.Time) {
	g.last = time.Time{}
	c := g.id()
	cat := g.pickCategory()
	team := g.rng.IntN(8)
	cam, term := camera(team), terminal(team/2)
	pair := []officer{officers[2*team], officers[2*team+1]}
	caseNo := fmt.Sprintf("晋市城管立字〔%d〕第%03d号", g.year, i+1)
	docNo := fmt.Sprintf("晋市城管罚字〔%d〕第%03d号", g.year, i+1)
	simple := cat.code == catalog.CategorySpittingLittering || cat.code == catalog.CategoryStreetVending && g.rng.IntN(2) == 0
	party := g.party(i, cat.code)
	name := party["name"].(string)
	fine := cat.fineLo + g.rng.Int64N((cat.fineHi-cat.fineLo)/100+1)*100
	if simple {
		fine = min(fine, 20000)
	}
	inv := pair // investigators

	// A recording made on patrol, before the case was known.
	var recID string
	if g.rng.IntN(3) > 0 {
		rs := t.Add(-40 * time.Minute)
		re := rs.Add(time.Duration(10+g.rng.IntN(20)) * time.Minute)
		data := map[string]any{"started_at": rs.Format(time.RFC3339), "ended_at": re.Format(time.RFC3339), "interruptions": []any{}}
		if g.rng.IntN(10) == 0 {
			data["interruptions"] = []any{map[string]any{"from": rs.Add(5 * time.Minute).Format(time.RFC3339), "to": rs.Add(7 * time.Minute).Format(time.RFC3339), "reason": "电池更换"}}
		}
		recID = g.emit(rs, cam, "recording.made", "", pair, data, []Media{g.media("video", rs)})
	}
	sources := []string{catalog.SourcePatrol, catalog.SourcePatrol, catalog.SourceComplaint, catalog.SourceHotline, catalog.SourceReferral, catalog.SourceAssigned, catalog.SourceMedia}
	src := sources[g.rng.IntN(len(sources))]
	g.emit(t, term, "case.registered", c, pair, map[string]any{"source": src, "summary": name + cat.found}, nil)
	proc := catalog.ProcedureGeneral
	if simple {
		proc = catalog.ProcedureSimple
	}
	t = g.after(t, 0, 2)
	opened := t
	g.emit(t, term, "case.opened", c, pair, map[string]any{"case_number": caseNo, "procedure": proc, "category": cat.code,
		"parties": []any{party}, "approved_by": director, "violation_at": t.Add(-26 * time.Hour).Format(time.RFC3339)}, nil)

	// On site: inspection by two officers, filmed and photographed.
	t = g.after(t, 0, 3)
	onSite := pair
	if g.rng.IntN(40) == 0 {
		onSite = pair[:1]
		g.breach(caseNo, "现场检查仅一名执法人员（行政处罚法第四十二条）")
	}
	g.emit(t, cam, "inspection.recorded", c, onSite, map[string]any{"document_no": fmt.Sprintf("晋市城管检字〔%d〕第%03d号", g.year, i+1), "findings": cat.found},
		[]Media{g.media("video", t), g.media("photo", t)})
	if recID != "" {
		g.emit(t.Add(2*time.Hour), term, "recording.linked", c, pair, map[string]any{"case_id": c, "events": []any{recID}}, nil)
	}
	if !simple {
		t = g.after(t, 0, 4)
		g.emit(t, cam, "inquiry.recorded", c, pair, map[string]any{"person": name, "document_no": fmt.Sprintf("晋市城管询字〔%d〕第%03d号", g.year, i+1)}, []Media{g.media("audio", t)})
		t = t.Add(time.Hour)
		g.emit(t, cam, "evidence.collected", c, pair, map[string]any{"kind": catalog.EvidencePhoto, "description": "现场照片及测量记录"}, []Media{g.media("photo", t), g.media("photo", t)})
	}
	if !simple && g.rng.IntN(8) == 0 {
		t = t.Add(30 * time.Minute)
		g.emit(t, cam, "evidence.preserved", c, pair, map[string]any{"items": []any{"经营用三轮车一辆", "电子秤一台"}, "approved_by": director},
			[]Media{g.media("video", t), g.media("photo", t)})
		days := 2 + g.rng.IntN(4)
		if g.rng.IntN(5) == 0 {
			days = 25 // more than 7 working days, whatever holidays fall between
			g.breach(caseNo, "先行登记保存超过七日未作处理决定（行政处罚法第五十六条）")
		}
		t = g.workTime(t.AddDate(0, 0, days))
		g.emit(t, term, "evidence.preservation_resolved", c, pair, map[string]any{"outcome": "解除先行登记保存，退还当事人"}, nil)
	}
	if !simple && (cat.code == catalog.CategoryStreetVending || cat.code == catalog.CategoryConstructionWaste) && g.rng.IntN(6) == 0 {
		t = t.Add(time.Hour)
		g.emit(t, cam, "measure.imposed", c, pair, map[string]any{"kind": catalog.MeasureSeize, "items": []any{"运输车辆一辆"}, "term_days": 30, "emergency": false, "approved_by": director}, []Media{g.media("video", t)})
		held := 10 + g.rng.IntN(15)
		switch g.rng.IntN(4) {
		case 0:
			t2 := g.workTime(t.AddDate(0, 0, 25))
			g.emit(t2, term, "measure.extended", c, pair, map[string]any{"extra_days": 30, "approved_by": director, "reason": "案情复杂，需进一步调查"}, nil)
			held = 45
		case 1:
			held = 45
			g.breach(caseNo, "扣押超过三十日且未经批准延长（行政强制法第二十五条）")
		}
		g.emit(g.workTime(t.AddDate(0, 0, held)), cam, "measure.released", c, pair, map[string]any{"reason": "调查终结，解除扣押"}, []Media{g.media("video", t)})
	}
	if cat.code == catalog.CategoryIllegalConstruction || cat.code == catalog.CategoryOutdoorAdvertising {
		t = t.Add(time.Hour)
		g.emit(t, term, "order.issued", c, pair, map[string]any{"deadline": t.AddDate(0, 0, 15).Format(time.DateOnly)}, nil)
	}

	// Major (重大执法决定) by the national default list: a fine of 10,000 元
	// on a person, 100,000 元 on an organisation; or flagged.
	majorFine := int64(1000000)
	if party["kind"] == catalog.PartyOrg {
		majorFine = 10000000
	}
	major := !simple && (fine >= majorFine || g.rng.IntN(10) == 0)
	outcome := catalog.OutcomePenalty
	switch n := g.rng.IntN(20); {
	case n == 0:
		outcome, fine = catalog.OutcomeNoPenalty, 0
	case n == 1 && !simple:
		outcome, fine = catalog.OutcomeTransfer, 0
	}
	hearing := false
	if !simple {
		if g.rng.IntN(12) == 0 {
			// Samples sent for testing (检测鉴定): a long investigation.
			t = g.after(later(t, opened.AddDate(0, 0, 45)), 0, 15)
		}
		t = g.after(t, 3, 20)
		g.emit(t, term, "investigation.concluded", c, pair, map[string]any{"summary": "经查，" + name + cat.found + "，事实清楚，证据确凿"}, nil)
		skipNotice := outcome == catalog.OutcomePenalty && g.rng.IntN(50) == 0
		if skipNotice {
			g.breach(caseNo, "未经事先告知即作出处罚决定（行政处罚法第四十四条）")
		} else if outcome == catalog.OutcomePenalty {
			t = g.after(t, 1, 5)
			hearingRight := fine >= 1000000
			g.emit(t, term, "notice.served", c, pair, map[string]any{"intended": map[string]any{"penalties": []any{catalog.PenaltyFine}, "fine_fen": fine},
				"hearing_right": hearingRight, "method": catalog.MethodDirect}, []Media{g.media("video", t)})
			switch {
			case hearingRight && g.rng.IntN(3) == 0:
				hearing = true
				t = g.after(t, 1, 4)
				g.emit(t, term, "hearing.requested", c, pair, nil, nil)
				t = g.after(t, 1, 2)
				// Notified at least 7 working days before (Art 64(2)).
				hat := g.workTime(cal.AddWorkingDays(t, 8+g.rng.IntN(4)))
				g.emit(t, term, "hearing.notified", c, pair, map[string]any{"hearing_at": hat.Format(time.RFC3339)}, nil)
				ch := chair
				if g.rng.IntN(6) == 0 {
					ch = inv[0].id
					g.breach(caseNo, "听证主持人为本案调查人员（行政处罚法第六十四条）")
				}
				g.emit(hat, cam, "hearing.held", c, []officer{{chair, "14050020150090", "刘主持"}, inv[0]}, map[string]any{"chair": ch}, []Media{g.media("video", hat)})
				t = hat
			case g.rng.IntN(2) == 0:
				t = g.after(t, 1, 4)
				g.emit(t, term, "statement.recorded", c, pair, map[string]any{"summary": "当事人陈述：系初次违法，已自行整改，请求从轻处罚。经复核，维持拟处罚意见。"}, []Media{g.media("audio", t)})
			default:
				t = g.after(t, 0, 2)
				g.emit(t, term, "statement.waived", c, pair, nil, nil)
			}
		}
		if major || hearing {
			if outcome == catalog.OutcomePenalty && major && !hearing && g.rng.IntN(12) == 0 {
				g.breach(caseNo, "重大执法决定未经法制审核（行政处罚法第五十八条）")
			} else {
				t = g.after(t, 1, 5)
				rv := reviewer
				if g.rng.IntN(8) == 0 {
					rv = inv[1].id
					g.breach(caseNo, "法制审核人员为本案调查人员（行政处罚法第五十八条）")
				}
				g.emit(t, legalOffice, "review.completed", c, nil, map[string]any{"reviewer": rv, "result": catalog.ReviewApproved, "reasons": "事实清楚，证据确凿，程序合法，适用法律正确"}, nil)
			}
			t = g.after(t, 1, 3)
			g.emit(t, legalOffice, "discussion.held", c, nil, map[string]any{"attendees": []any{director, "O-0002", "O-0003", reviewer}, "conclusion": "同意法制审核意见"}, nil)
		}
		t = g.after(t, 1, 8)
		if limit := opened.AddDate(0, 0, 85); t.After(limit) {
			// The 90 days of 立案 (行政处罚法第六十条) extended before they
			// run out: 30 days by the 负责人, 60 by collective decision.
			extra, why := 30, "案情复杂，需进行检测鉴定，经负责人批准延长办案期限三十日"
			if t.After(opened.AddDate(0, 0, 115)) {
				extra, why = 60, "案情重大复杂，需进行检测鉴定，经集体讨论决定延长办案期限六十日"
			}
			ext := g.after(opened, 80, 84)
			if ext.After(t) {
				ext = t.Add(-time.Hour)
			}
			g.emit(ext, term, "case.extended", c, nil, map[string]any{"extra_days": extra, "approved_by": director, "reason": why}, nil)
		}
	} else {
		t = t.Add(20 * time.Minute)
	}
	pen := []any{}
	switch outcome {
	case catalog.OutcomePenalty:
		pen = []any{catalog.PenaltyFine}
		if cat.code == catalog.CategoryStreetVending && g.rng.IntN(3) == 0 {
			pen = []any{catalog.PenaltyWarning, catalog.PenaltyFine}
		}
	}
	g.emit(t, term, "decision.made", c, pair, map[string]any{"outcome": outcome, "penalties": pen, "fine_fen": fine,
		"legal_basis": []any{cat.basis}, "document_no": docNo, "major": major}, nil)
	// Service: on the spot for simple cases, within 7 days otherwise.
	served := t
	effective := served // when it counts as served: 公告送达 30 days later
	if !simple {
		days := g.rng.IntN(6)
		if outcome != catalog.OutcomeTransfer && g.rng.IntN(25) == 0 { // a transfer needs no service
			days = 25 // more than 7 working days, whatever holidays fall between
			g.breach(caseNo, "处罚决定书未在七日内送达（行政处罚法第六十一条）")
		}
		served = g.after(t, days, days)
		effective = served
		methods := []string{catalog.MethodDirect, catalog.MethodDirect, catalog.MethodDirect, catalog.MethodLeft, catalog.MethodMail, catalog.MethodElectronic, catalog.MethodPublicNotice}
		m := methods[g.rng.IntN(len(methods))]
		if m == catalog.MethodPublicNotice {
			effective = served.AddDate(0, 0, 30)
		}
		var media []Media
		if m == catalog.MethodLeft || m == catalog.MethodDirect {
			media = []Media{g.media("video", served)}
		}
		g.emit(served, cam, "document.served", c, pair, map[string]any{"document": catalog.DocumentDecision, "method": m, "recipient": name}, media)
	} else {
		g.emit(t.Add(5*time.Minute), cam, "document.served", c, pair, map[string]any{"document": catalog.DocumentDecision, "method": catalog.MethodDirect, "recipient": name}, []Media{g.media("video", t)})
	}
	published, unpaid, pending := false, false, false
	if outcome == catalog.OutcomePenalty && !simple {
		days := 1 + g.rng.IntN(6)
		switch g.rng.IntN(12) {
		case 0:
			days = 25
			g.breach(caseNo, "行政处罚决定未在七个工作日内公示（国办发〔2018〕118号）")
		case 1:
			// Never published: an open finding, and the case stays open.
			pending = true
			g.breach(caseNo, "行政处罚决定逾期未公示（国办发〔2018〕118号）")
		}
		if !pending {
			g.emit(g.workTime(t.AddDate(0, 0, days)), term, "decision.published", c, nil, map[string]any{"document_no": docNo, "channel": "晋城市城市管理局门户网站"}, nil)
			published = true
		}
	}
	if outcome == catalog.OutcomePenalty {
		switch n := g.rng.IntN(10); {
		case n == 0 && !simple:
			unpaid = true // and the party sought no remedy
			// Unpaid. Once the periods for 复议 and 诉讼 have passed (6
			// months from service), a 催告, then the court (行政强制法第五十三条,
			// 第五十四条).
			g.breach(caseNo, "当事人逾期未缴纳罚款（行政处罚法第七十二条）")
			t = g.after(effective.AddDate(0, 6, 0), 12, 25)
			g.emit(t, term, "reminder.served", c, pair, map[string]any{"deadline": cal.AddWorkingDays(t, 10).Format(time.DateOnly)}, []Media{g.media("video", t)})
			wait := 11 + g.rng.IntN(15) // working days
			if g.rng.IntN(5) == 0 {
				wait = 4
			}
			t = g.workTime(cal.AddWorkingDays(t, wait))
			if g.emit(t, litigation, "enforcement.applied", c, nil, map[string]any{"court": "晋城市城区人民法院"}, nil) != "" && wait < 10 {
				g.breach(caseNo, "催告后未满十日即申请法院强制执行（行政强制法第五十四条）")
			}
			if g.rng.IntN(4) > 0 {
				t = g.after(t, 15, 40)
				res := catalog.RulingGranted
				if g.rng.IntN(5) == 0 {
					res = catalog.RulingDenied
				}
				g.emit(t, litigation, "enforcement.ruled", c, nil, map[string]any{"result": res}, nil)
				if res == catalog.RulingGranted && cat.code == catalog.CategoryIllegalConstruction {
					t = g.after(t, 10, 30)
					sunday := g.rng.IntN(3) == 0
					if sunday {
						// A Sunday that is not a make-up working day.
						for t.Weekday() != time.Sunday || cal.IsWorkingDay(t) {
							t = t.AddDate(0, 0, 1)
						}
					}
					if g.emit(t, cam, "enforcement.executed", c, pair, map[string]any{"kind": "强制拆除", "emergency": false}, []Media{g.media("video", t)}) != "" && sunday {
						g.breach(caseNo, "在法定节假日（星期日）实施强制拆除（行政强制法第四十三条）")
					}
				}
			}
		case n == 1 && !simple: // deferred, then paid
			t = g.after(served, 2, 10)
			until := t.AddDate(0, 3, 0)
			g.emit(t, finance, "payment.deferred", c, nil, map[string]any{"until": until.Format(time.DateOnly), "approved_by": director}, nil)
			g.emit(g.after(t, 30, 80), finance, "payment.received", c, nil, map[string]any{"amount_fen": fine, "receipt_no": fmt.Sprintf("JC%d%05d", g.year, i+1)}, nil)
		default:
			at := g.after(served, 0, 14)
			if simple {
				at = served.Add(10 * time.Minute)
			}
			g.emit(at, finance, "payment.received", c, nil, map[string]any{"amount_fen": fine, "receipt_no": fmt.Sprintf("JC%d%05d", g.year, i+1)}, nil)
			t = at
		}
	}
	if !simple && !unpaid && g.rng.IntN(12) == 0 {
		t = g.after(served, 10, 50)
		g.emit(t, litigation, "reconsideration.filed", c, nil, map[string]any{"body": "晋城市人民政府"}, nil)
		t = g.after(t, 30, 60)
		res := []string{catalog.ReconsiderationUpheld, catalog.ReconsiderationUpheld, catalog.ReconsiderationChanged, catalog.ReconsiderationRevoked}[g.rng.IntN(4)]
		if published && g.rng.IntN(3) == 0 {
			res = catalog.ReconsiderationRevoked
		}
		g.emit(t, litigation, "reconsideration.decided", c, nil, map[string]any{"result": res}, nil)
		if (res == catalog.ReconsiderationRevoked || res == catalog.ReconsiderationChanged) && published {
			// Withdrawn within 3 days (行政处罚法第四十八条第二款).
			why := map[string]string{catalog.ReconsiderationRevoked: "处罚决定被行政复议机关撤销", catalog.ReconsiderationChanged: "处罚决定被行政复议机关变更"}[res]
			g.emit(g.after(t, 0, 2), term, "publication.withdrawn", c, nil, map[string]any{"reason": why}, nil)
		}
	} else if !simple && !unpaid && g.rng.IntN(15) == 0 {
		t = g.after(served, 30, 120)
		g.emit(t, litigation, "lawsuit.filed", c, nil, map[string]any{"court": "晋城市城区人民法院"}, nil)
		t = g.after(t, 30, 60)
		appeared := g.rng.IntN(6) > 0
		who := "局长 张某"
		if !appeared {
			who = "法规科科长 李某（委托）"
		}
		g.emit(t, litigation, "lawsuit.heard", c, nil, map[string]any{"responsible_person_appeared": appeared, "appeared": who}, nil)
		t = g.after(t, 20, 60)
		g.emit(t, litigation, "lawsuit.judged", c, nil, map[string]any{"result": "驳回原告诉讼请求"}, nil)
	}
	if pending {
		return
	}
	// Closed once everything is done (published, paid or taken to court,
	// released).
	t = g.after(later(t, g.last), 1, 10)
	g.emit(t, term, "case.closed", c, pair, map[string]any{"reason": "执行完毕"}, nil)
	retention := catalog.Retention30y
	if !simple {
		retention = catalog.RetentionPermanent
	}
	g.emit(g.after(t, 5, 30), term, "case.archived", c, nil, map[string]any{"archive_no": fmt.Sprintf("%d%04d", g.year, i+1), "retention": retention}, nil)
}
