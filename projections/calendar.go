package projections

import "time"

// A Calendar counts working days (工作日). The compliance rules (issue 6)
// ship the State Council holiday calendar with its make-up working days
// (调休); until then Weekdays is the default.
type Calendar interface {
	// AddWorkingDays returns the end of the n-th working day after the day
	// of t, in t's location: a deadline of "n working days from t".
	AddWorkingDays(t time.Time, n int) time.Time
}

// Weekdays is the calendar in which Monday to Friday are working days and
// there are no holidays.
type Weekdays struct{}

// AddWorkingDays implements Calendar.
func (Weekdays) AddWorkingDays(t time.Time, n int) time.Time {
	d := EndOfDay(t)
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d
}

// EndOfDay returns the last instant of t's calendar day in t's location: a
// date deadline means "by the end of that day".
func EndOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location()).Add(-time.Nanosecond)
}

// DefaultZone is the agency time zone when none is configured.
const DefaultZone = "Asia/Shanghai"

// LoadZone loads the named zone, DefaultZone for "". It falls back to a fixed
// UTC+8 zone named Asia/Shanghai when the system has no zone database, so
// that a minimal container still computes Chinese years correctly.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil && name == DefaultZone {
		return time.FixedZone(DefaultZone, 8*3600), nil
	}
	return loc, err
}

// A Finding is a compliance finding (规范性检查结果) on a case, as the rules
// engine (package compliance) produces it. The case file and the annual
// report carry findings fields; they are empty until rules are configured.
type Finding struct {
	Rule     string     `json:"rule"`            // e.g. "decision-90d"
	Check    string     `json:"check,omitempty"` // which condition of the rule, e.g. "late", "missing"
	Severity string     `json:"severity"`        // "violation" or "warning"
	Open     bool       `json:"open"`            // still uncorrected: the missing act can still be done
	Basis    string     `json:"basis"`           // law and article
	Message  string     `json:"message"`         // in Chinese
	CaseID   string     `json:"case_id,omitempty"`
	Seqs     []uint64   `json:"seqs"` // entries involved
	Due      *time.Time `json:"due,omitempty"`
	Actual   *time.Time `json:"actual,omitempty"`
	// SurchargeFen is the 加处罚款 accrued on an overdue fine (payment-15d).
	SurchargeFen int64 `json:"surcharge_fen,omitempty"`
}

// Severities of a Finding.
const (
	Violation = "violation" // a statutory step or deadline was breached
	Warning   = "warning"   // a deadline is close, or a local or technical norm was breached
)
