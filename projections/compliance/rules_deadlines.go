package compliance

import (
	"fmt"
	"slices"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
)

// Deadline rules (domain.md §8 C). Each finds the act that meets the
// deadline: on time, nothing; late, a closed violation from the due date;
// missing, an open violation from the due date, which shows once the clock
// passes it.

// late or missing: the common shape. open is whether a missing act can still
// be done.
func (x *eval) deadline(rule string, due time.Time, done int, open bool, lateMsg, missingMsg string, seqs ...uint64) {
	if done >= 0 {
		d := x.c.Evs[done]
		if d.At.After(due) {
			x.finding(rule, "late", projections.Violation, false, due, at(due), at(d.At),
				fmt.Sprintf(lateMsg, x.p.day(d.At), x.p.day(due)), append(seqs, d.Seq)...)
		}
		return
	}
	x.finding(rule, "missing", projections.Violation, open, due, at(due), nil, fmt.Sprintf(missingMsg, x.p.day(due)), seqs...)
}

// decision90d: a decision within 90 days of 立案 (Art 60), plus extensions
// approved before the period ends (case.extended), with a warning from day
// 75. A case closed without a decision (撤销立案) before the due date has no
// finding.
func (x *eval) decision90d() {
	if !x.general() {
		return
	}
	oi := x.first("case.opened", -1)
	if oi < 0 {
		return
	}
	o := x.c.Evs[oi]
	dp := x.p.params.Decision
	// last is the period's last day as counted; due where it ends (moved
	// off a day off). An extension counts if approved before the period
	// ended, and adds its days to the last day as counted.
	last := x.days(o.At, dp.Days)
	for i := oi + 1; i < len(x.c.Evs); i++ {
		if e := x.c.Evs[i]; e.Type == "case.extended" && !e.At.After(x.ends(last)) && e.N > 0 {
			last = x.days(last, e.N)
		}
	}
	if dp.ExcludeHearing {
		if ri := x.first("hearing.requested", oi); ri >= 0 {
			if hi := x.first("hearing.held", ri); hi >= 0 {
				last = x.days(last, calendarDays(x.c.Evs[ri].At, x.c.Evs[hi].At, x.p.loc))
			}
		}
	}
	due := x.ends(last)
	di := x.first("decision.made", oi)
	if di >= 0 {
		x.deadline(RuleDecision90d, due, di, false, "处理决定于%s作出，超过立案之日起的办案期限（至%s）", "", o.Seq)
		return
	}
	if ci := x.first("case.closed", oi); ci >= 0 {
		if x.c.Evs[ci].At.After(due) {
			x.finding(RuleDecision90d, "missing", projections.Violation, false, due, at(due), nil,
				fmt.Sprintf("立案后至办案期限（%s）届满未作出处理决定，案件其后结案", x.p.day(due)), o.Seq)
		}
		return
	}
	warn := x.days(last, dp.WarnDays-dp.Days)
	x.finding(RuleDecision90d, "warn", projections.Warning, true, warn, at(due), nil,
		fmt.Sprintf("立案于%s，办案期限至%s，尚未作出处理决定", x.p.day(o.At), x.p.day(due)), o.Seq).Until = at(due)
	x.finding(RuleDecision90d, "missing", projections.Violation, true, due, at(due), nil,
		fmt.Sprintf("立案于%s，办案期限（%s）已届满，仍未作出处理决定", x.p.day(o.At), x.p.day(due)), o.Seq)
}

// disposes reports whether a decision disposes of seized goods.
func disposes(e *event) bool {
	return e.Type == "decision.made" && slices.Contains(e.Pen, catalog.PenaltyConfiscation)
}

// calendarDays counts the days from a's date to b's date in loc.
func calendarDays(a, b time.Time, loc *time.Location) int {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	return int(time.Date(by, bm, bd, 12, 0, 0, 0, time.UTC).Sub(time.Date(ay, am, ad, 12, 0, 0, 0, time.UTC)).Hours() / 24)
}

// preservation7d: 先行登记保存 decided within 7 days (Art 56). Resolutions
// close preservations oldest first.
func (x *eval) preservation7d() {
	used := map[int]bool{}
	per := x.p.params.Preservation
	for i, e := range x.c.Evs {
		if e.Type != "evidence.preserved" {
			continue
		}
		done := -1
		for j := i + 1; j < len(x.c.Evs); j++ {
			if x.c.Evs[j].Type == "evidence.preservation_resolved" && !used[j] {
				done, used[j] = j, true
				break
			}
		}
		x.deadline(RulePreservation7d, x.period(e.At, per), done, true,
			"先行登记保存处理决定于%s作出，超过"+periodName(per)+"期限（至%s）",
			"先行登记保存证据后，期限（"+periodName(per)+"，至%s）届满仍未作出处理决定", e.Seq)
	}
}

// measure30d: a 查封/扣押 ends within its term, at most 30 days, plus an
// extension of at most 30 days approved before the term ends (行政强制法
// Art 25): released, or disposed of by a decision that confiscates (Art 27).
// A decision without confiscation leaves the goods to be released (Art 28).
// Extensions and releases apply to the latest open measure.
func (x *eval) measure30d() {
	type measure struct {
		i     int
		last  time.Time // the term's last day as counted
		due   time.Time // where it ends: last, moved off a day off
		extra int
		done  int
	}
	mp := x.p.params.Measure
	var all, open []*measure
	for i := range x.c.Evs {
		e := x.c.Evs[i]
		switch e.Type {
		case "measure.imposed":
			term := e.N
			if term <= 0 || term > mp.Days {
				if term > mp.Days {
					x.finding(RuleMeasure30d, "term", projections.Violation, false, e.At, nil, at(e.At),
						fmt.Sprintf("查封扣押期限定为%d日，超过法定的%d日", term, mp.Days), e.Seq)
				}
				term = mp.Days
			}
			m := &measure{i: i, last: x.days(e.At, term), done: -1}
			m.due = x.ends(m.last)
			all, open = append(all, m), append(open, m)
		case "measure.extended":
			if len(open) == 0 {
				continue
			}
			m := open[len(open)-1]
			me := x.c.Evs[m.i]
			if e.At.After(m.due) {
				x.finding(RuleMeasure30d, "extension-late", projections.Violation, false, e.At, at(m.due), at(e.At),
					fmt.Sprintf("延长查封扣押于%s决定，原期限已于%s届满", x.p.day(e.At), x.p.day(m.due)), e.Seq, me.Seq)
				continue
			}
			extra := e.N
			if m.extra+extra > mp.MaxExtraDays {
				x.finding(RuleMeasure30d, "extension-long", projections.Violation, false, e.At, nil, at(e.At),
					fmt.Sprintf("查封扣押延长%d日，累计超过法定的%d日", m.extra+extra, mp.MaxExtraDays), e.Seq, me.Seq)
				extra = mp.MaxExtraDays - m.extra
			}
			m.extra += extra
			m.last = x.days(m.last, extra)
			m.due = x.ends(m.last)
		case "measure.released":
			if len(open) > 0 {
				open[len(open)-1].done = i
				open = open[:len(open)-1]
			}
		case "decision.made":
			if disposes(e) {
				for _, m := range open {
					m.done = i
				}
				open = nil
			}
		}
	}
	for _, m := range all {
		x.deadline(RuleMeasure30d, m.due, m.done, true,
			"查封扣押于%s解除（或作出处理决定），超过期限（至%s）",
			"查封扣押期限已于%s届满，仍未解除或作出处理决定", x.c.Evs[m.i].Seq)
	}
}

// service7d: a decision not handed over on the spot is served within 7 days
// (Art 61). Simple procedure hands it over on the spot.
func (x *eval) service7d() {
	if !x.general() {
		return
	}
	per := x.p.params.Service
	for i, e := range x.c.Evs {
		if e.Type != "decision.made" || e.Outcome == catalog.OutcomeTransfer {
			continue
		}
		si, _, _ := x.servedAt(i)
		x.deadline(RuleService7d, x.period(e.At, per), si, true,
			"处罚决定书于%s送达，超过"+periodName(per)+"期限（至%s）",
			"处罚决定书送达期限（"+periodName(per)+"，至%s）已届满，仍未送达", e.Seq)
	}
}

// publish7wd: a penalty decision is publicized within 7 working days
// (118号; Art 48). Decisions on minors, marked publish_exempt, of simple
// procedure (unless configured) or revoked in time need none.
func (x *eval) publish7wd() {
	per := x.p.params.Publish.Period
	for _, i := range x.penalties() {
		if !x.mustPublish(i) {
			continue
		}
		d := x.c.Evs[i]
		due := x.period(d.At, per)
		pi := x.publication(i)
		if pi < 0 {
			if rev, ok := x.revokedAt(i); ok {
				if rev.After(due) {
					x.finding(RulePublish7wd, "missing", projections.Violation, false, due, at(due), nil,
						fmt.Sprintf("处罚决定未在期限（%s）内公示，其后被撤销", x.p.day(due)), d.Seq)
				}
				continue
			}
		}
		x.deadline(RulePublish7wd, due, pi, true,
			"处罚决定于%s公示，超过"+periodName(per)+"期限（至%s）",
			"处罚决定公示期限（"+periodName(per)+"，至%s）已届满，仍未公示", d.Seq)
	}
}

// withdraw3d: a publicized decision that is revoked, changed or confirmed
// illegal is withdrawn within 3 days (Art 48(2)).
func (x *eval) withdraw3d() {
	per := x.p.params.Withdraw
	for i, e := range x.c.Evs {
		if e.Type != "reconsideration.decided" && e.Type != "lawsuit.judged" {
			continue
		}
		switch e.Outcome {
		case catalog.ReconsiderationRevoked, catalog.ReconsiderationChanged, catalog.ReconsiderationConfirmedIllegal:
		default:
			continue
		}
		active := false
		for j := range i {
			switch x.c.Evs[j].Type {
			case "decision.published":
				active = true
			case "publication.withdrawn":
				active = false
			}
		}
		if !active {
			continue
		}
		x.deadline(RuleWithdraw3d, x.period(e.At, per), x.first("publication.withdrawn", i), true,
			"公示信息于%s撤下，超过"+periodName(per)+"期限（至%s）",
			"处罚决定被变更、撤销或确认违法后，公示信息撤下期限（至%s）已届满，仍未撤下", e.Seq)
	}
}

// payment15d: a fine unpaid 15 days after the decision was served (or at the
// end of an approved deferral) accrues 3% a day, at most the fine (Art 67,
// 72). The party's obligation, so a warning: the agency must remind and
// enforce. It closes when paid, enforcement is applied for, or the case is
// closed.
func (x *eval) payment15d() {
	i := x.fine()
	if i < 0 {
		return
	}
	d := x.c.Evs[i]
	_, served, ok := x.servedAt(i)
	if !ok {
		return
	}
	due := x.due(served, x.p.params.Payment.Days)
	for j := i + 1; j < len(x.c.Evs); j++ {
		if e := x.c.Evs[j]; e.Type == "payment.deferred" {
			if t, ok := x.deadlineAt(e.When); ok {
				due = t
			}
		}
	}
	if pi := x.paidInFull(i, len(x.c.Evs)); pi >= 0 {
		p := x.c.Evs[pi]
		if p.At.After(due) {
			days := calendarDays(due, p.At, x.p.loc)
			f := x.finding(RulePayment15d, "late", projections.Warning, false, due, at(due), at(p.At),
				fmt.Sprintf("罚款%s于%s缴清，逾期%d日，应加处罚款%s", yuan(d.Fen), x.p.day(p.At), days, yuan(casefile.Surcharge(d.Fen, days))), d.Seq, p.Seq)
			f.SurchargeFen = casefile.Surcharge(d.Fen, days)
		}
		return
	}
	for j := i + 1; j < len(x.c.Evs); j++ {
		if e := x.c.Evs[j]; (e.Type == "enforcement.applied" || e.Type == "case.closed") && e.At.After(due) {
			x.finding(RulePayment15d, "unpaid", projections.Warning, false, due, at(due), nil,
				fmt.Sprintf("罚款%s逾期（缴纳期限%s）未缴清，已%s", yuan(d.Fen), x.p.day(due), map[string]string{
					"enforcement.applied": "申请人民法院强制执行", "case.closed": "结案"}[e.Type]), d.Seq, e.Seq)
			return
		}
	}
	f := x.finding(RulePayment15d, "unpaid", projections.Warning, true, due, at(due), nil,
		fmt.Sprintf("罚款%s逾期（缴纳期限%s）未缴清", yuan(d.Fen), x.p.day(due)), d.Seq)
	f.FineFen = d.Fen
}

// courtEnforcement: an application to court comes after a 催告 served at
// least 10 working days before (行政强制法 Art 54, 69), after the challenge
// periods end and within 3 months of their end (Art 53). The window is not
// computed when the party filed a reconsideration or lawsuit.
func (x *eval) courtEnforcement() {
	cp := x.p.params.Court
	for i, a := range x.c.Evs {
		if a.Type != "enforcement.applied" {
			continue
		}
		ri := x.lastBefore("reminder.served", i)
		if ri < 0 {
			x.finding(RuleCourtEnforcement, "no-reminder", projections.Violation, false, a.At, nil, at(a.At),
				"申请人民法院强制执行前未催告当事人履行义务", a.Seq)
			continue
		}
		r := x.c.Evs[ri]
		if earliest := x.period(r.At, cp.ReminderLead); !a.At.After(earliest) {
			x.finding(RuleCourtEnforcement, "reminder-short", projections.Violation, false, a.At, at(earliest), at(a.At),
				fmt.Sprintf("催告书于%s送达，未满%s（至%s）即申请强制执行", x.p.day(r.At), periodName(cp.ReminderLead), x.p.day(earliest)), a.Seq, r.Seq)
		}
	}
	i := x.fine()
	if i < 0 {
		return
	}
	d := x.c.Evs[i]
	_, served, ok := x.servedAt(i)
	if !ok || x.first("reconsideration.filed", i) >= 0 || x.first("lawsuit.filed", i) >= 0 {
		return
	}
	end := x.months(served, cp.ChallengeMonths)
	for j := i + 1; j < len(x.c.Evs); j++ {
		if e := x.c.Evs[j]; e.Type == "payment.deferred" {
			if t, ok := x.deadlineAt(e.When); ok && t.After(end) {
				end = t
			}
		}
	}
	window := x.months(end, cp.WindowMonths)
	if ai := x.first("enforcement.applied", i); ai >= 0 {
		a := x.c.Evs[ai]
		switch {
		case !a.At.After(end):
			x.finding(RuleCourtEnforcement, "premature", projections.Violation, false, a.At, nil, at(a.At),
				fmt.Sprintf("申请强制执行时，当事人申请行政复议、提起行政诉讼的期限（至%s）尚未届满", x.p.day(end)), a.Seq, d.Seq)
		case a.At.After(window):
			x.finding(RuleCourtEnforcement, "late", projections.Violation, false, window, at(window), at(a.At),
				fmt.Sprintf("于%s申请强制执行，超过复议、诉讼期限届满后%d个月的申请期限（至%s）", x.p.day(a.At), cp.WindowMonths, x.p.day(window)), d.Seq, a.Seq)
		}
		return
	}
	if x.paidInFull(i, len(x.c.Evs)) >= 0 {
		return
	}
	open := x.first("case.closed", i) < 0
	x.finding(RuleCourtEnforcement, "missing", projections.Violation, open, window, at(window), nil,
		fmt.Sprintf("罚款未缴清，申请人民法院强制执行的期限（至%s）已届满，未申请", x.p.day(window)), d.Seq)
}
