package compliance

import (
	"fmt"
	"slices"
	"strings"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Rules on the order of the steps of a case (sequencing, domain.md §8 B).

// filedBeforeInvestigation: in general procedure, formal investigation acts
// come after 立案 (Art 54). Registration, inspections (核查), orders to
// correct and emergency measures may come before.
func (x *eval) filedBeforeInvestigation() {
	if x.c.Proc != catalog.ProcedureGeneral {
		return
	}
	oi := x.first("case.opened", -1)
	if oi < 0 {
		return
	}
	o := x.c.Evs[oi]
	for i := range oi {
		e := x.c.Evs[i]
		if !x.p.filingActs[e.Type] || e.flag(flagEmergency) || !e.At.Before(o.At) {
			continue
		}
		x.finding(RuleFiledBeforeInvestig, "before-filing", projections.Violation, false, e.At, nil, at(e.At),
			fmt.Sprintf("一般程序案件在立案（%s）前已进行%s（%s）", x.p.minute(o.At), typeName(e.Type), x.p.minute(e.At)), e.Seq, o.Seq)
	}
}

// heavier lists the penalty kinds that must have been in the notice.
var heavier = []string{catalog.PenaltyConfiscation, catalog.PenaltySuspension, catalog.PenaltyRevocation}

// noticeBeforeDecision: a penalty decision in general procedure needs a
// prior notice (Art 44, 62), comes after the statement window unless a
// statement, waiver or hearing was recorded (Art 45), and does not exceed
// the penalty noticed.
func (x *eval) noticeBeforeDecision() {
	if !x.general() {
		return
	}
	for _, i := range x.penalties() {
		d := x.c.Evs[i]
		ni := x.lastBefore("notice.served", i)
		if ni < 0 {
			x.finding(RuleNoticeBeforeDecision, "missing", projections.Violation, false, d.At, nil, at(d.At),
				"作出行政处罚决定前未记录行政处罚事先告知（告知拟作出的处罚及陈述、申辩、要求听证的权利）", d.Seq)
			continue
		}
		n := x.c.Evs[ni]
		if !x.anyBetween(ni, i, "statement.recorded", "statement.waived", "hearing.held") {
			w := x.p.params.Notice.Window
			if due := x.period(x.effective(n), w); !d.At.After(due) {
				x.finding(RuleNoticeBeforeDecision, "early", projections.Violation, false, d.At, at(due), at(d.At),
					fmt.Sprintf("事先告知于%s送达，陈述申辩期限（%s，至%s）届满前即作出处罚决定，且无陈述申辩或放弃记录",
						x.p.day(n.At), periodName(w), x.p.day(due)), d.Seq, n.Seq)
			}
		}
		if d.Fen > n.Fen {
			x.finding(RuleNoticeBeforeDecision, "exceeds-fine", projections.Violation, false, d.At, nil, at(d.At),
				fmt.Sprintf("决定罚款%s，超过事先告知的%s，应重新告知", yuan(d.Fen), yuan(n.Fen)), d.Seq, n.Seq)
		}
		var extra []string
		for _, k := range d.Pen {
			if slices.Contains(heavier, k) && !slices.Contains(n.Pen, k) {
				extra = append(extra, penaltyName(k))
			}
		}
		if len(extra) > 0 {
			x.finding(RuleNoticeBeforeDecision, "exceeds-penalty", projections.Violation, false, d.At, nil, at(d.At),
				fmt.Sprintf("决定的处罚种类（%s）未在事先告知中载明，应重新告知", strings.Join(extra, "、")), d.Seq, n.Seq)
		}
	}
}

func penaltyName(k string) string {
	for _, v := range enumValues("decision.made", "penalties") {
		if v.Code == k {
			return v.Chinese
		}
	}
	return k
}

// hearing: a hearing requested in time after the notice (Art 64(1)) needs a
// notification at least NoticeLead before the hearing (Art 64(2)), and is
// held before the decision (Art 63); its chair is not an investigator
// (Art 64(4)).
func (x *eval) hearing() {
	for ri := range x.c.Evs {
		r := x.c.Evs[ri]
		if r.Type != "hearing.requested" {
			continue
		}
		ni := x.lastBefore("notice.served", ri)
		if ni < 0 || r.At.After(x.period(x.effective(x.c.Evs[ni]), x.p.params.Hearing.RequestWindow)) {
			continue // no notice, or requested late: the request does not bind
		}
		hi, held, di := x.first("hearing.notified", ri), x.first("hearing.held", ri), x.first("decision.made", ri)
		if hi >= 0 && (di < 0 || hi < di) {
			h := x.c.Evs[hi]
			lead := x.p.params.Hearing.NoticeLead
			if hat, ok := x.deadlineAt(h.When); ok && x.lead(h.At, lead).After(projections.EndOfDay(hat.In(x.p.loc))) {
				x.finding(RuleHearing, "notice-short", projections.Violation, false, h.At, nil, at(h.At),
					fmt.Sprintf("听证通知于%s送达，距听证日%s不足%s", x.p.day(h.At), x.p.day(hat), periodName(lead)), h.Seq, r.Seq)
			}
		}
		if held >= 0 && (hi < 0 || hi > held) {
			h := x.c.Evs[held]
			x.finding(RuleHearing, "not-notified", projections.Violation, false, h.At, nil, at(h.At),
				"举行听证前未记录听证通知", h.Seq, r.Seq)
		}
		if di >= 0 && (held < 0 || held > di) {
			d := x.c.Evs[di]
			x.finding(RuleHearing, "not-held", projections.Violation, false, d.At, nil, at(d.At),
				fmt.Sprintf("当事人于%s依法要求听证，作出决定前未举行听证", x.p.day(r.At)), d.Seq, r.Seq)
		}
		break // the first timely request
	}
	for _, h := range x.c.Evs {
		if h.Type == "hearing.held" && h.Who != "" && x.investigators()[h.Who] {
			x.finding(RuleHearing, "chair", projections.Violation, false, h.At, nil, at(h.At),
				fmt.Sprintf("听证主持人%s是本案调查人员", h.Who), h.Seq)
		}
	}
}

// legalReview: a major decision, or one after a hearing, needs an approved
// 法制审核 before it (Art 58), by a reviewer who is not an investigator.
func (x *eval) legalReview() {
	for _, i := range x.penalties() {
		d := x.c.Evs[i]
		hearing := x.lastBefore("hearing.held", i) >= 0
		if !x.major(i) && !hearing {
			continue
		}
		why := "重大执法决定"
		if !x.major(i) {
			why = "经过听证的处罚决定"
		}
		ri := x.lastBefore("review.completed", i)
		switch {
		case ri < 0:
			x.finding(RuleLegalReview, "missing", projections.Violation, false, d.At, nil, at(d.At),
				why+"作出前未经法制审核", d.Seq)
		case x.c.Evs[ri].Outcome != catalog.ReviewApproved:
			x.finding(RuleLegalReview, "not-approved", projections.Violation, false, d.At, nil, at(d.At),
				why+"的法制审核未通过（退回）后即作出决定，未重新审核", d.Seq, x.c.Evs[ri].Seq)
		}
	}
	for _, r := range x.c.Evs {
		if r.Type == "review.completed" && r.Who != "" && x.investigators()[r.Who] {
			x.finding(RuleLegalReview, "reviewer", projections.Violation, false, r.At, nil, at(r.At),
				fmt.Sprintf("法制审核人员%s是本案调查人员", r.Who), r.Seq)
		}
	}
}

// collectiveDiscussion: a major or complex penalty decision needs a
// collective discussion before it (Art 57(2)).
func (x *eval) collectiveDiscussion() {
	for _, i := range x.penalties() {
		d := x.c.Evs[i]
		if !x.major(i) && !d.flag(flagComplex) {
			continue
		}
		if x.lastBefore("discussion.held", i) < 0 {
			x.finding(RuleCollectiveDiscussion, "missing", projections.Violation, false, d.At, nil, at(d.At),
				"情节复杂或者重大违法行为的处罚决定作出前未经负责人集体讨论", d.Seq)
		}
	}
}
