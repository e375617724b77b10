package compliance

import (
	"fmt"
	"strings"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Rules on single acts and on closing the case.

// noNightHoliday: no enforcement.executed at night, on a rest day or on a
// public holiday unless it is an emergency (行政强制法 Art 43). A make-up
// working day (调休上班) is a working day.
func (x *eval) noNightHoliday() {
	for _, e := range x.c.Evs {
		if e.Type != "enforcement.executed" || e.flag(flagEmergency) {
			continue
		}
		t := e.At.In(x.p.loc)
		m, from, to := t.Hour()*60+t.Minute(), x.p.nightFrom, x.p.nightTo
		if from > to && (m >= from || m < to) || from < to && m >= from && m < to {
			x.finding(RuleNoNightHoliday, "night", projections.Violation, false, e.At, nil, at(e.At),
				fmt.Sprintf("于夜间（%s）实施行政强制执行，且非情况紧急", x.p.minute(e.At)), e.Seq)
		}
		if name, ok := x.p.cal.Holiday(t); ok {
			x.finding(RuleNoNightHoliday, "holiday", projections.Violation, false, e.At, nil, at(e.At),
				fmt.Sprintf("于法定节假日（%s，%s）实施行政强制执行，且非情况紧急", name, x.p.day(e.At)), e.Seq)
		} else if !x.p.cal.IsWorkingDay(t) {
			x.finding(RuleNoNightHoliday, "rest-day", projections.Violation, false, e.At, nil, at(e.At),
				fmt.Sprintf("于休息日（%s，%s）实施行政强制执行，且非情况紧急", x.p.day(e.At), weekday[t.Weekday()]), e.Seq)
		}
	}
}

var weekday = [...]string{"星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"}

// avCoverage: an act of a configured scene is covered by audio-video whose
// span includes it and no interruption at that moment: a recording in or
// linked to the case, or the act's own audio/video media (118号). A missing
// recording shows Grace after the act, and goes away when one is linked.
func (x *eval) avCoverage() {
	for _, e := range x.c.Evs {
		if !x.p.scenes[e.Type] && !(e.Method != "" && x.p.scenes[e.Type+":"+e.Method]) {
			continue
		}
		if x.covered(e) {
			continue
		}
		due := e.At.Add(x.p.params.AV.Grace.d())
		x.finding(RuleAVCoverage, "missing", projections.Violation, true, due, at(due), nil,
			fmt.Sprintf("%s（%s）无覆盖该时点的音像记录", sceneName(e), x.p.minute(e.At)), e.Seq)
	}
}

func sceneName(e *event) string {
	if e.Type == "document.served" && e.Method == catalog.MethodLeft {
		return "留置送达"
	}
	return typeName(e.Type)
}

func (x *eval) covered(e *event) bool {
	for _, r := range x.c.Recs {
		if r.covers(e.At) {
			return true
		}
	}
	for _, m := range e.Media {
		if m.From == nil || m.To == nil {
			if !x.p.params.AV.RequireMediaTimes {
				return true
			}
			continue
		}
		if !e.At.Before(*m.From) && !e.At.After(*m.To) {
			return true
		}
	}
	return false
}

// closePreconditions: no case.closed while a measure is unreleased, a fine
// is unpaid without an application for enforcement, or a required
// publication is missing (domain.md C44).
func (x *eval) closePreconditions() {
	ci := x.first("case.closed", -1)
	if ci < 0 {
		return
	}
	c := x.c.Evs[ci]
	var open []int
	for i := range ci {
		switch x.c.Evs[i].Type {
		case "measure.imposed":
			open = append(open, i)
		case "measure.released":
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case "decision.made":
			if disposes(x.c.Evs[i]) {
				open = nil
			}
		}
	}
	for _, i := range open {
		x.finding(RuleClosePreconditions, "measure-open", projections.Violation, false, c.At, nil, at(c.At),
			fmt.Sprintf("结案时查封扣押（%s）尚未解除", x.p.day(x.c.Evs[i].At)), x.c.Evs[i].Seq, c.Seq)
	}
	var decided []int
	for _, i := range x.penalties() {
		if i > ci {
			break
		}
		if rev, ok := x.revokedAt(i); !ok || rev.After(c.At) {
			decided = append(decided, i)
		}
	}
	if n := len(decided); n > 0 {
		i := decided[n-1]
		d := x.c.Evs[i]
		if d.Fen > 0 && x.paidInFull(i, ci) < 0 && x.lastBefore("enforcement.applied", ci) < 0 {
			x.finding(RuleClosePreconditions, "unpaid", projections.Violation, false, c.At, nil, at(c.At),
				fmt.Sprintf("结案时罚款%s未缴清，且未申请强制执行", yuan(d.Fen)), d.Seq, c.Seq)
		}
	}
	var missing []string
	var seqs []uint64
	for _, i := range decided {
		if x.mustPublish(i) {
			if pi := x.publication(i); pi < 0 || pi > ci {
				missing = append(missing, cmpDoc(x.c.Evs[i].Doc))
				seqs = append(seqs, x.c.Evs[i].Seq)
			}
		}
	}
	if len(missing) > 0 {
		x.finding(RuleClosePreconditions, "unpublished", projections.Violation, false, c.At, nil, at(c.At),
			fmt.Sprintf("结案时处罚决定（%s）尚未公示", strings.Join(missing, "、")), append(seqs, c.Seq)...)
	}
}

func cmpDoc(doc string) string {
	if doc == "" {
		return "无文号"
	}
	return doc
}
