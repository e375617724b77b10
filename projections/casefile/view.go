package casefile

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// Config configures how case files are read. The zero value of every field
// means its default.
type Config struct {
	// Location is the agency's time zone: date deadlines ("2020-06-01")
	// end at midnight there, and overdue days are counted there. Default
	// Asia/Shanghai.
	Location *time.Location
	// Calendar counts working days (publication within 7 working days).
	// Default projections.Weekdays.
	Calendar projections.Calendar
	// MediaPresent reports whether a media file's bytes have arrived. Nil
	// leaves "present" out of the answer.
	MediaPresent func(sha256 string) bool
	// Now is the clock for the surcharge and overdue marks. Default
	// time.Now.
	Now func() time.Time
	// Checks are compliance rules (issue 6) run on each case file as it is
	// read; their findings appear under "findings".
	Checks []Check
	// Compliance, if set, supplies the case's findings and the deadlines of
	// its rules from the same snapshot (package compliance). Its deadlines
	// replace the built-in ones of the rules it owns, so that the case file
	// and the findings count days the same way.
	Compliance Compliance
}

// Compliance is what the case file needs of the rules engine (package
// compliance implements it). It must be safe for concurrent use.
type Compliance interface {
	// Case returns the findings of case id visible at now, and the open
	// deadlines of its rules, as read from sn.
	Case(sn *projections.Snapshot, id uuid.UUID, now time.Time) ([]projections.Finding, []Deadline, error)
	// Owns reports whether Case's deadlines replace the built-in deadlines
	// with this rule id.
	Owns(rule string) bool
}

// A Check is a compliance rule evaluated on a case file at time now. It must
// be safe for concurrent use.
type Check func(v *View, now time.Time) []projections.Finding

func (cfg Config) withDefaults() Config {
	if cfg.Location == nil {
		cfg.Location, _ = projections.LoadZone("")
	}
	if cfg.Calendar == nil {
		cfg.Calendar = projections.Weekdays{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// View is a case file as served: the stored facts, the timeline and what is
// derived from them at the time of reading.
type View struct {
	*File
	Timeline  []Item                `json:"timeline"`
	Amounts   Amounts               `json:"amounts"`
	Deadlines []Deadline            `json:"deadlines"`
	Findings  []projections.Finding `json:"findings"`
	AsOf      AsOf                  `json:"as_of"`
}

// AsOf is the ledger state a view reflects.
type AsOf struct {
	Size uint64    `json:"size"` // entries applied
	Time time.Time `json:"time"` // the clock used for derived values
}

// Amounts are the money of a case in fen (分).
type Amounts struct {
	DecidedFen       int64      `json:"decided_fen"`     // fines of penalty decisions not revoked
	ConfiscatedFen   int64      `json:"confiscated_fen"` // 没收违法所得 / 非法财物 valued
	PaidFen          int64      `json:"paid_fen"`
	OutstandingFen   int64      `json:"outstanding_fen"`
	DueAt            *time.Time `json:"due_at,omitempty"` // last moment to pay without surcharge
	OverdueDays      int        `json:"overdue_days"`
	SurchargeFen     int64      `json:"surcharge_fen"`      // 加处罚款 accrued (Art 72: 3%/day, ≤ the fine)
	SurchargePaidFen int64      `json:"surcharge_paid_fen"` // surcharge_fen fields of payments
	SurchargeBasis   string     `json:"surcharge_basis"`
}

// Deadline is an open deadline (期限) of a case.
type Deadline struct {
	Rule    string    `json:"rule"`  // rule id shared with the compliance findings
	Name    string    `json:"name"`  // Chinese
	Basis   string    `json:"basis"` // law and article
	Seq     uint64    `json:"seq"`   // the entry that opened it
	Due     time.Time `json:"due"`
	Overdue bool      `json:"overdue"`
}

const surchargeBasis = "《行政处罚法》第七十二条：每日按罚款数额的百分之三加处罚款，加处罚款的数额不得超出罚款的数额"

// NewView derives a case file's view at time now.
func NewView(f *File, timeline []Item, size uint64, cfg Config, now time.Time) *View {
	cfg = cfg.withDefaults()
	v := &View{File: f, Timeline: timeline, AsOf: AsOf{Size: size, Time: now}, Deadlines: []Deadline{}, Findings: []projections.Finding{}}
	if v.Timeline == nil {
		v.Timeline = []Item{}
	}
	if cfg.MediaPresent != nil {
		for i := range v.Timeline {
			for j := range v.Timeline[i].Media {
				ok := cfg.MediaPresent(v.Timeline[i].Media[j].SHA256)
				v.Timeline[i].Media[j].Present = &ok
			}
		}
	}
	v.Amounts = amounts(f, cfg.Location, now)
	v.Deadlines = deadlines(f, v.Amounts, cfg, now)
	for _, c := range cfg.Checks {
		v.Findings = append(v.Findings, c(v, now)...)
	}
	return v
}

// dueAt returns when the fine must be paid: the end of a deferral, else 15
// days after the decision was served (Art 67), else unknown.
func dueAt(f *File, loc *time.Location) *time.Time {
	for i := len(f.Enforcement) - 1; i >= 0; i-- {
		if a := f.Enforcement[i]; a.Type == "payment.deferred" {
			if t := deadlineAt(a.Deadline, loc); t != nil {
				return t
			}
		}
	}
	for i := len(f.Decisions) - 1; i >= 0; i-- {
		if d := f.Decisions[i]; d.Outcome == catalog.OutcomePenalty && !d.Revoked && d.FineFen > 0 {
			if d.ServedAt == nil {
				return nil
			}
			return at(projections.EndOfDay(d.ServedAt.In(loc).AddDate(0, 0, 15)))
		}
	}
	return nil
}

func amounts(f *File, loc *time.Location, now time.Time) Amounts {
	a := Amounts{SurchargeBasis: surchargeBasis}
	for _, d := range f.Decisions {
		if d.Outcome == catalog.OutcomePenalty && !d.Revoked {
			a.DecidedFen += d.FineFen
			a.ConfiscatedFen += d.ConfiscatedFen
		}
	}
	pays := slices.Clone(f.Payments)
	slices.SortStableFunc(pays, func(x, y Payment) int { return x.OccurredAt.Compare(y.OccurredAt) })
	var paidInFull *time.Time
	for _, p := range pays {
		a.PaidFen += p.AmountFen
		a.SurchargePaidFen += p.SurchargeFen
		if paidInFull == nil && a.DecidedFen > 0 && a.PaidFen >= a.DecidedFen {
			paidInFull = at(p.OccurredAt)
		}
	}
	a.OutstandingFen = max(a.DecidedFen-a.PaidFen, 0)
	a.DueAt = dueAt(f, loc)
	if a.DueAt == nil || a.DecidedFen == 0 {
		return a
	}
	end := now
	if paidInFull != nil {
		end = *paidInFull
	}
	a.OverdueDays = daysAfter(*a.DueAt, end, loc)
	a.SurchargeFen = Surcharge(a.DecidedFen, a.OverdueDays)
	return a
}

// Surcharge is the 加处罚款 on a fine after days days overdue: 3% of the fine
// a day, never more than the fine (行政处罚法 Art 72(1)). Fractions of a fen
// are dropped.
func Surcharge(fineFen int64, days int) int64 {
	if days <= 0 || fineFen <= 0 {
		return 0
	}
	if days >= 34 { // 34 × 3% > 100%
		return fineFen
	}
	return min(fineFen*3*int64(days)/100, fineFen)
}

// daysAfter counts the calendar days in loc from due's day to t's day.
func daysAfter(due, t time.Time, loc *time.Location) int {
	if !t.After(due) {
		return 0
	}
	dy, dm, dd := due.In(loc).Date()
	ty, tm, td := t.In(loc).Date()
	a := time.Date(dy, dm, dd, 12, 0, 0, 0, time.UTC)
	b := time.Date(ty, tm, td, 12, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours() / 24)
}

// deadlineAt reads a deadline as recorded: a date is the end of that day in
// loc, a timestamp is itself.
func deadlineAt(s string, loc *time.Location) *time.Time {
	if s == "" {
		return nil
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return at(projections.EndOfDay(d))
	}
	if t, err := ledger.ParseTimestamp(s); err == nil {
		return &t
	}
	return nil
}

func deadlines(f *File, a Amounts, cfg Config, now time.Time) []Deadline {
	loc := cfg.Location
	var ds []Deadline
	add := func(rule, name, basis string, seq uint64, due time.Time) {
		ds = append(ds, Deadline{Rule: rule, Name: name, Basis: basis, Seq: seq, Due: due, Overdue: now.After(due)})
	}
	days := func(t time.Time, n int) time.Time { return projections.EndOfDay(t.In(loc).AddDate(0, 0, n)) }
	open := f.Status == StatusOpen
	if open && f.OpenedAt != nil && len(f.Decisions) == 0 {
		add("decision-90d", "作出处罚决定（立案之日起九十日内）", "《行政处罚法》第六十条", f.FirstSeq, days(*f.OpenedAt, 90))
	}
	if n := len(f.Decisions); n > 0 {
		d := f.Decisions[n-1]
		if d.ServedAt == nil {
			add("service-7d", "送达处罚决定书（七日内）", "《行政处罚法》第六十一条", d.Seq, days(d.OccurredAt, 7))
		}
		if d.Outcome == catalog.OutcomePenalty && !d.Revoked && d.PublishedAt == nil && f.Procedure != catalog.ProcedureSimple {
			add("publish-7wd", "公示处罚决定（七个工作日内）", "国办发〔2018〕118号", d.Seq, cfg.Calendar.AddWorkingDays(d.OccurredAt.In(loc), 7))
		}
	}
	if a.OutstandingFen > 0 && a.DueAt != nil {
		seq := f.LastSeq
		for _, d := range f.Decisions {
			if d.Outcome == catalog.OutcomePenalty && !d.Revoked {
				seq = d.Seq
			}
		}
		add("payment-15d", "缴纳罚款（收到决定书之日起十五日内）", "《行政处罚法》第六十七条", seq, *a.DueAt)
	}
	for _, p := range f.Preservations {
		if p.ClosedSeq == 0 {
			add("preservation-7d", "先行登记保存处理决定（七日内）", "《行政处罚法》第五十六条", p.Seq, days(p.OccurredAt, 7))
		}
	}
	for _, m := range f.Measures {
		if m.ReleasedAt == nil {
			add("measure-30d", "查封扣押期限届满", "《行政强制法》第二十五条", m.Seq, days(m.OccurredAt, m.TermDays+m.ExtraDays))
		}
	}
	for _, h := range f.Hearings {
		if h.ClosedSeq == 0 {
			if t := deadlineAt(h.Deadline, loc); t != nil {
				add("hearing", "举行听证", "《行政处罚法》第六十四条", h.Seq, *t)
			}
		}
	}
	if open {
		for _, o := range f.Orders {
			if t := deadlineAt(o.Deadline, loc); t != nil {
				add("order", "责令改正期限", "《行政处罚法》第二十八条", o.Seq, *t)
			}
		}
		for _, r := range f.Reminders {
			if t := deadlineAt(r.Deadline, loc); t != nil {
				add("reminder", "催告履行期限", "《行政强制法》第三十五条", r.Seq, *t)
			}
		}
	}
	active := false
	for _, p := range f.Publications {
		active = active || p.WithdrawnAt == nil
	}
	if active {
		for _, r := range f.Remedies {
			switch r.Result {
			case catalog.ReconsiderationRevoked, catalog.ReconsiderationChanged, catalog.ReconsiderationConfirmedIllegal:
				add("withdraw-3d", "撤下公示（三日内）", "《行政处罚法》第四十八条", r.ClosedSeq, days(*r.ClosedAt, 3))
			}
		}
	}
	return sortDeadlines(ds)
}

func sortDeadlines(ds []Deadline) []Deadline {
	slices.SortStableFunc(ds, func(x, y Deadline) int { return cmp.Or(x.Due.Compare(y.Due), cmp.Compare(x.Seq, y.Seq)) })
	if ds == nil {
		ds = []Deadline{}
	}
	return ds
}
