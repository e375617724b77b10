package compliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Rule ids. They are stable: clients filter on them, and the case file's
// deadlines share them.
const (
	RuleTwoOfficers           = "two-officers"
	RuleFiledBeforeInvestig   = "filed-before-investigation"
	RuleNoticeBeforeDecision  = "notice-before-decision"
	RuleHearing               = "hearing"
	RuleLegalReview           = "legal-review"
	RuleCollectiveDiscussion  = "collective-discussion"
	RuleDecision90d           = "decision-90d"
	RulePreservation7d        = "preservation-7d"
	RuleMeasure30d            = "measure-30d"
	RuleService7d             = "service-7d"
	RulePublish7wd            = "publish-7wd"
	RuleWithdraw3d            = "withdraw-3d"
	RulePayment15d            = "payment-15d"
	RuleCourtEnforcement      = "court-enforcement"
	RuleNoNightHoliday        = "no-night-holiday-enforcement"
	RuleAVCoverage            = "av-coverage"
	RuleLateUpload            = "late-upload"
	RuleClosePreconditions    = "close-preconditions"
	ruleCount                 = 18
	lawPenalty                = "《行政处罚法》"
	lawCompulsion             = "《行政强制法》"
	guideline118              = "国办发〔2018〕118号"
	guideline118FullProcess   = "《国务院办公厅关于全面推行行政执法公示制度执法全过程记录制度重大执法决定法制审核制度的指导意见》（" + guideline118 + "）"
	art85                     = "、第八十五条（期间以工作日计）"
	lawCompulsionArt69        = "、第六十九条（十日以内期限以工作日计）"
	basisPolicePeriodAnalogue = "参照《公安机关现场执法视音频记录工作规定》（24小时内存储）"
)

// A Rule is one compliance rule of v1.
type Rule struct {
	ID       string `json:"id"`
	Name     string `json:"name"`               // Chinese
	Basis    string `json:"basis"`              // law and article
	Deadline string `json:"deadline,omitempty"` // Chinese name of its deadline, for the case file
}

var rules = []Rule{
	{RuleTwoOfficers, "执法人员不少于两人", lawPenalty + "第四十二条；" + lawCompulsion + "第十八条", ""},
	{RuleFiledBeforeInvestig, "先立案后调查", lawPenalty + "第五十四条", ""},
	{RuleNoticeBeforeDecision, "事先告知与陈述申辩", lawPenalty + "第四十四条、第四十五条、第六十二条", ""},
	{RuleHearing, "听证程序", lawPenalty + "第六十三条、第六十四条" + art85, ""},
	{RuleLegalReview, "重大执法决定法制审核", lawPenalty + "第五十八条；" + guideline118, ""},
	{RuleCollectiveDiscussion, "集体讨论", lawPenalty + "第五十七条第二款", ""},
	{RuleDecision90d, "九十日内作出处理决定", lawPenalty + "第六十条", "作出处罚决定（立案之日起九十日内）"},
	{RulePreservation7d, "先行登记保存七日内处理", lawPenalty + "第五十六条" + art85, "先行登记保存处理决定（七日内）"},
	{RuleMeasure30d, "查封扣押期限", lawCompulsion + "第二十五条", "查封扣押期限届满"},
	{RuleService7d, "七日内送达处罚决定书", lawPenalty + "第六十一条" + art85, "送达处罚决定书（七日内）"},
	{RulePublish7wd, "七个工作日内公示处罚决定", guideline118 + "；" + lawPenalty + "第四十八条", "公示处罚决定（七个工作日内）"},
	{RuleWithdraw3d, "三日内撤回公示", lawPenalty + "第四十八条第二款" + art85, "撤下公示（三日内）"},
	{RulePayment15d, "十五日内缴纳罚款", lawPenalty + "第六十七条、第七十二条", "缴纳罚款（收到决定书之日起十五日内）"},
	{RuleCourtEnforcement, "申请人民法院强制执行", lawCompulsion + "第五十三条、第五十四条" + lawCompulsionArt69, "申请人民法院强制执行（复议诉讼期限届满后三个月内）"},
	{RuleNoNightHoliday, "不得在夜间或法定节假日实施行政强制执行", lawCompulsion + "第四十三条", ""},
	{RuleAVCoverage, "全过程音像记录", guideline118 + "；" + lawPenalty + "第四十七条", "音像记录关联"},
	{RuleLateUpload, "记录及时上传与设备时钟", lawPenalty + "第四十七条；" + guideline118 + "；" + basisPolicePeriodAnalogue, ""},
	{RuleClosePreconditions, "结案条件", lawCompulsion + "第二十八条；" + lawPenalty + "第四十八条、第七十二条", ""},
}

var ruleByID = func() map[string]Rule {
	m := map[string]Rule{}
	for _, r := range rules {
		m[r.ID] = r
	}
	if len(m) != ruleCount {
		panic("compliance: rule table")
	}
	return m
}()

// Rules returns the v1 rules in order.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// eval evaluates the rules on one case.
type eval struct {
	p   *Projection
	c   *caseState
	id  string
	out []pot
	inv map[string]bool // investigators, built on first use

	pens    []int // penalties(), on first use
	hasPens bool
	fineAt  int // fine(), on first use; -2 before
}

// evaluate returns every finding case c has or will have, of the rules in
// only (all rules if nil): its entry findings (two-officers, late-upload),
// and for each rule the findings of the case's facts, with deadlines that
// have not passed as findings visible from their due date.
func (p *Projection) evaluate(c *caseState, id string, only ruleSet) []pot {
	x := &eval{p: p, c: c, id: id, fineAt: -2}
	for _, f := range c.Static {
		if only.has(f.Rule) {
			x.out = append(x.out, f)
		}
	}
	only &= p.enabled
	for i, bit := range evaluatorBits {
		if only&bit != 0 {
			evaluators[i].fn(x)
		}
	}
	for i := range x.out {
		x.out[i].CaseID = id
	}
	return x.out
}

// evaluators are the rules evaluated on a case's facts, with the record
// types each reads besides case.opened (which every rule reads: procedure,
// parties, category). An entry re-evaluates only the rules that read its
// type; the others' findings cannot have changed. Types that come from the
// parameters (the filing acts, the audio-video scenes) are added in New.
var evaluators = []evaluator{
	{RuleFiledBeforeInvestig, (*eval).filedBeforeInvestigation, nil},
	{RuleNoticeBeforeDecision, (*eval).noticeBeforeDecision, []string{"decision.made", "notice.served", "statement.recorded", "statement.waived", "hearing.held"}},
	{RuleHearing, (*eval).hearing, append([]string{"hearing.requested", "notice.served", "hearing.notified", "hearing.held", "decision.made"}, investigativeTypes...)},
	{RuleLegalReview, (*eval).legalReview, append([]string{"decision.made", "hearing.held", "review.completed"}, investigativeTypes...)},
	{RuleCollectiveDiscussion, (*eval).collectiveDiscussion, []string{"decision.made", "discussion.held"}},
	{RuleDecision90d, (*eval).decision90d, []string{"case.extended", "hearing.requested", "hearing.held", "decision.made", "case.closed"}},
	{RulePreservation7d, (*eval).preservation7d, []string{"evidence.preserved", "evidence.preservation_resolved"}},
	{RuleMeasure30d, (*eval).measure30d, []string{"measure.imposed", "measure.extended", "measure.released", "decision.made"}},
	{RuleService7d, (*eval).service7d, []string{"decision.made", "document.served"}},
	{RulePublish7wd, (*eval).publish7wd, []string{"decision.made", "decision.published", "reconsideration.decided", "lawsuit.judged"}},
	{RuleWithdraw3d, (*eval).withdraw3d, []string{"reconsideration.decided", "lawsuit.judged", "decision.published", "publication.withdrawn"}},
	{RulePayment15d, (*eval).payment15d, []string{"decision.made", "reconsideration.decided", "lawsuit.judged", "document.served",
		"payment.deferred", "payment.received", "enforcement.applied", "case.closed"}},
	{RuleCourtEnforcement, (*eval).courtEnforcement, []string{"enforcement.applied", "reminder.served", "decision.made", "reconsideration.decided",
		"reconsideration.filed", "lawsuit.judged", "lawsuit.filed", "document.served", "payment.deferred", "payment.received", "case.closed"}},
	{RuleNoNightHoliday, (*eval).noNightHoliday, []string{"enforcement.executed"}},
	{RuleAVCoverage, (*eval).avCoverage, []string{"recording.made", "recording.linked"}},
	{RuleClosePreconditions, (*eval).closePreconditions, []string{"case.closed", "measure.imposed", "measure.released", "decision.made",
		"payment.received", "enforcement.applied", "decision.published", "reconsideration.decided", "lawsuit.judged"}},
}

type evaluator struct {
	id    string
	fn    func(*eval)
	reads []string
}

// evaluatorBits are the evaluators' rules as sets.
var evaluatorBits = func() []ruleSet {
	bs := make([]ruleSet, len(evaluators))
	for i, r := range evaluators {
		bs[i] = 1 << ruleIndex[r.id]
	}
	return bs
}()

var investigativeTypes = []string{"inspection.recorded", "inquiry.recorded", "evidence.collected", "evidence.preserved", "measure.imposed", "investigation.concluded"}

// A ruleSet is a set of rules, by their index in rules; allRules is every
// rule.
type ruleSet uint32

const allRules = ruleSet(1<<ruleCount - 1)

var ruleIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range rules {
		m[r.ID] = i
	}
	return m
}()

func (s ruleSet) has(rule string) bool { return s&(1<<ruleIndex[rule]) != 0 }

func (s *ruleSet) add(rule string) { *s |= 1 << ruleIndex[rule] }

// buildReaders maps each record type to the rules that read it;
// case.opened is read by all. It also sets the enabled rules.
func (p *Projection) buildReaders() {
	p.enabled = allRules
	for _, id := range p.params.Disabled {
		p.enabled &^= 1 << ruleIndex[id]
	}
	p.readers = map[string]ruleSet{}
	add := func(typ, rule string) {
		s := p.readers[typ]
		s.add(rule)
		p.readers[typ] = s
	}
	for _, r := range evaluators {
		add("case.opened", r.id)
		for _, t := range r.reads {
			add(t, r.id)
		}
	}
	for _, t := range p.params.Filing.Acts {
		add(t, RuleFiledBeforeInvestig)
	}
	for _, s := range p.params.AV.Scenes {
		t, _, _ := strings.Cut(s, ":")
		add(t, RuleAVCoverage)
	}
}

// finding adds a finding. from is when it shows; open marks a missing act
// that can still be done.
func (x *eval) finding(rule, check, sev string, open bool, from time.Time, due, actual *time.Time, msg string, seqs ...uint64) *pot {
	x.out = append(x.out, pot{Finding: projections.Finding{Rule: rule, Check: check, Severity: sev, Open: open,
		Basis: ruleByID[rule].Basis, Message: msg, Seqs: seqs, Due: due, Actual: actual}, From: from})
	return &x.out[len(x.out)-1]
}

// Time arithmetic in the agency's zone.

// days is the end of the n-th calendar day after t's day: where n days
// from t end, whatever day that is.
func (x *eval) days(t time.Time, n int) time.Time {
	return projections.EndOfDay(t.In(x.p.loc).AddDate(0, 0, n))
}

// ends returns where a period whose last day is t's day ends: that day, or,
// if it is a rest day or a public holiday, the first working day after it
// (民事诉讼法第八十五条; Params.PeriodEnd).
func (x *eval) ends(t time.Time) time.Time {
	if x.p.params.PeriodEnd == PeriodEndSameDay {
		return t
	}
	return x.p.cal.OnWorkingDay(t.In(x.p.loc))
}

// due is the end of a period of n calendar days from t: the n-th day after
// t's day, moved to the next working day if it is a day off.
func (x *eval) due(t time.Time, n int) time.Time { return x.ends(x.days(t, n)) }

// months is the end of a period of n months from t, moved to the next
// working day if its last day is a day off.
func (x *eval) months(t time.Time, n int) time.Time {
	return x.ends(projections.EndOfDay(t.In(x.p.loc).AddDate(0, n, 0)))
}

// period is the end of period p from t: working days end on a working day;
// calendar days as due.
func (x *eval) period(t time.Time, p Period) time.Time {
	if p.Unit == UnitWorking {
		return x.p.cal.AddWorkingDays(t.In(x.p.loc), p.Days)
	}
	return x.due(t, p.Days)
}

// lead is the end of period p from t without moving it off a day off: for a
// least notice before a set date (the hearing), not a deadline.
func (x *eval) lead(t time.Time, p Period) time.Time {
	if p.Unit == UnitWorking {
		return x.p.cal.AddWorkingDays(t.In(x.p.loc), p.Days)
	}
	return x.days(t, p.Days)
}

// effective returns when the document served by event e counts as
// served: its own time, or for service by public notice (公告送达) the end
// of the notice period (民事诉讼法第九十五条; Params.PublicNotice).
func (x *eval) effective(e *event) time.Time {
	if e.Method == catalog.MethodPublicNotice {
		return x.days(e.At, x.p.params.PublicNotice.Days)
	}
	return e.At
}

func periodName(p Period) string {
	if p.Unit == UnitWorking {
		return fmt.Sprintf("%d个工作日", p.Days)
	}
	return fmt.Sprintf("%d日", p.Days)
}

func (p *Projection) day(t time.Time) string    { return t.In(p.loc).Format("2006-01-02") }
func (p *Projection) minute(t time.Time) string { return t.In(p.loc).Format("2006-01-02 15:04") }

// deadlineAt reads a deadline as recorded: a date is the end of that day in
// the agency's zone, a timestamp is itself.
func (x *eval) deadlineAt(s string) (time.Time, bool) {
	if d, err := time.ParseInLocation(time.DateOnly, s, x.p.loc); err == nil {
		return projections.EndOfDay(d), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// Event lookups over the occurred_at-ordered entries.

func (x *eval) first(typ string, after int) int {
	for i := after + 1; i < len(x.c.Evs); i++ {
		if x.c.Evs[i].Type == typ {
			return i
		}
	}
	return -1
}

func (x *eval) lastBefore(typ string, before int) int {
	for i := before - 1; i >= 0; i-- {
		if x.c.Evs[i].Type == typ {
			return i
		}
	}
	return -1
}

func (x *eval) anyBetween(from, to int, types ...string) bool {
	for i := from + 1; i < to && i < len(x.c.Evs); i++ {
		for _, t := range types {
			if x.c.Evs[i].Type == t {
				return true
			}
		}
	}
	return false
}

func (x *eval) general() bool { return x.c.Proc != catalog.ProcedureSimple }

func (x *eval) investigators() map[string]bool {
	if x.inv == nil {
		x.inv = map[string]bool{}
		for _, e := range x.c.Evs {
			for _, o := range e.Offs {
				x.inv[o] = true
			}
		}
	}
	return x.inv
}

// penalties returns the indexes of penalty decisions.
func (x *eval) penalties() []int {
	if !x.hasPens {
		for i := range x.c.Evs {
			if e := x.c.Evs[i]; e.Type == "decision.made" && e.Outcome == catalog.OutcomePenalty {
				x.pens = append(x.pens, i)
			}
		}
		x.hasPens = true
	}
	return x.pens
}

// revokedAt returns when a remedy revoked the decision at index i (or
// confirmed it illegal): the first such result after it.
func (x *eval) revokedAt(i int) (time.Time, bool) {
	for j := i + 1; j < len(x.c.Evs); j++ {
		e := x.c.Evs[j]
		if (e.Type == "reconsideration.decided" || e.Type == "lawsuit.judged") &&
			(e.Outcome == catalog.ReconsiderationRevoked || e.Outcome == catalog.ReconsiderationConfirmedIllegal) {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// major reports whether the decision at index i is major (重大): flagged,
// or in the agency's list.
func (x *eval) major(i int) bool {
	d := x.c.Evs[i]
	if d.flag(flagMajor) {
		return true
	}
	mp := x.p.params.Major
	threshold := mp.PersonFineFen
	if x.c.Org {
		threshold = mp.OrgFineFen
	}
	if threshold > 0 && d.Fen >= threshold {
		return true
	}
	for _, k := range d.Pen {
		if x.p.majorPen[k] {
			return true
		}
	}
	return x.p.majorCat[x.c.Cat]
}

// servedAt returns when the decision at index i was served: on the spot in
// simple procedure, else the first document.served of a decision after it,
// with the time it counts as served (effective: 公告送达 after the notice
// period).
func (x *eval) servedAt(i int) (int, time.Time, bool) {
	if !x.general() {
		return i, x.c.Evs[i].At, true
	}
	for j := i + 1; j < len(x.c.Evs); j++ {
		e := x.c.Evs[j]
		if e.Type == "decision.made" {
			break
		}
		if e.Type == "document.served" && e.Doc == catalog.DocumentDecision {
			return j, x.effective(e), true
		}
	}
	return -1, time.Time{}, false
}

// fine returns the index of the decision whose fine is owed: the latest
// penalty decision with a fine that is not revoked.
func (x *eval) fine() int {
	if x.fineAt != -2 {
		return x.fineAt
	}
	x.fineAt = -1
	ps := x.penalties()
	for k := len(ps) - 1; k >= 0; k-- {
		i := ps[k]
		if _, revoked := x.revokedAt(i); x.c.Evs[i].Fen > 0 && !revoked {
			x.fineAt = i
			break
		}
	}
	return x.fineAt
}

// paidInFull returns the index of the payment that completed the fine of
// the decision at index i, counting payments up to index before.
func (x *eval) paidInFull(i, before int) int {
	var paid int64
	for j, e := range x.c.Evs[:before] {
		if e.Type == "payment.received" {
			paid += e.Fen
			if paid >= x.c.Evs[i].Fen {
				return j
			}
		}
	}
	return -1
}

// mustPublish reports whether the decision at index i must be published.
func (x *eval) mustPublish(i int) bool {
	d := x.c.Evs[i]
	return d.Type == "decision.made" && d.Outcome == catalog.OutcomePenalty && (x.general() || x.p.params.Publish.IncludeSimple) &&
		!x.c.Minor && d.Exempt == ""
}

// publication returns the index of the first publication of the decision at
// index i: by decision_seq, else by document number, else the latest
// decision before the publication.
func (x *eval) publication(i int) int {
	d := x.c.Evs[i]
	for j := i + 1; j < len(x.c.Evs); j++ {
		e := x.c.Evs[j]
		if e.Type != "decision.published" {
			continue
		}
		switch {
		case e.Ref != nil:
			if *e.Ref == d.Seq {
				return j
			}
		case e.Doc != "":
			if e.Doc == d.Doc {
				return j
			}
		default:
			if x.lastBefore("decision.made", j) == i {
				return j
			}
		}
	}
	return -1
}

func yuan(fen int64) string {
	if fen%100 == 0 {
		return fmt.Sprintf("%d元", fen/100)
	}
	return fmt.Sprintf("%d.%02d元", fen/100, fen%100)
}

func typeName(t string) string {
	if ct, ok := catalog.Lookup(t); ok {
		return ct.Chinese
	}
	return t
}
