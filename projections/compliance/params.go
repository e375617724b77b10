package compliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Params are an agency's rule parameters, read from its JSON config file
// (LoadParams; documented field by field in docs/compliance.md). The zero
// value of every field means its default, so an empty file {} is the
// national defaults. Changing the parameters changes the projection's
// version, which rebuilds its store while the old build serves.
type Params struct {
	// Zone is the agency's time zone: dates and days are counted there.
	// Default Asia/Shanghai.
	Zone string `json:"zone,omitempty"`
	// Disabled lists rule ids that are not evaluated.
	Disabled []string `json:"disabled,omitempty"`

	TwoOfficers  TwoOfficersParams `json:"two_officers"`
	Filing       FilingParams      `json:"filed_before_investigation"`
	Notice       NoticeParams      `json:"notice_before_decision"`
	Hearing      HearingParams     `json:"hearing"`
	Major        MajorParams       `json:"major"`
	Decision     DecisionParams    `json:"decision_90d"`
	Preservation Period            `json:"preservation_7d"`
	Measure      MeasureParams     `json:"measure_30d"`
	Service      Period            `json:"service_7d"`
	Publish      PublishParams     `json:"publish_7wd"`
	Withdraw     Period            `json:"withdraw_3d"`
	Payment      PaymentParams     `json:"payment_15d"`
	Court        CourtParams       `json:"court_enforcement"`
	Night        NightParams       `json:"no_night_holiday_enforcement"`
	AV           AVParams          `json:"av_coverage"`
	Upload       UploadParams      `json:"late_upload"`

	// PeriodEnd says where a period counted in calendar days or months
	// ends when its last day is a rest day or a public holiday:
	// "next_working_day" (default; 民事诉讼法第八十五条, applied through
	// 行政诉讼法第一百零一条) or "same_day".
	PeriodEnd string `json:"period_end_on_rest_day,omitempty"`
	// PublicNotice: service by public notice (公告送达).
	PublicNotice PublicNoticeParams `json:"public_notice"`
}

// Values of Params.PeriodEnd.
const (
	PeriodEndNextWorkingDay = "next_working_day"
	PeriodEndSameDay        = "same_day"
)

// PublicNoticeParams: service by public notice (公告送达) counts as served
// when the notice period has passed (民事诉讼法第九十五条), so the periods
// that start at service (payment, the challenge periods, the statement
// window) start then.
type PublicNoticeParams struct {
	// Days after the notice is published. Default 30 (60 before the 2021
	// amendment of 民事诉讼法).
	Days int `json:"days,omitempty"`
}

// A Period is a number of days counted as calendar days (自然日) or working
// days (工作日). Unit "" means the rule's default unit.
type Period struct {
	Days int    `json:"days,omitempty"`
	Unit string `json:"unit,omitempty"` // "calendar" or "working"
}

// Period units.
const (
	UnitCalendar = "calendar" // 自然日
	UnitWorking  = "working"  // 工作日
)

// Duration is a time.Duration written as in Go ("24h", "90m") in JSON.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d Duration) d() time.Duration { return time.Duration(d) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// TwoOfficersParams: rule two-officers.
type TwoOfficersParams struct {
	// Min is the fewest distinct officers with a 执法证号 an on-site act
	// lists. Default 2.
	Min int `json:"min,omitempty"`
	// Acts are the on-site record types. Default inspection.recorded,
	// inquiry.recorded, evidence.collected, evidence.preserved,
	// measure.imposed, document.served, hearing.held, enforcement.executed.
	Acts []string `json:"acts,omitempty"`
	// ServiceMethods are the document.served methods done on site. Default
	// direct, left.
	ServiceMethods []string `json:"service_methods,omitempty"`
}

// FilingParams: rule filed-before-investigation.
type FilingParams struct {
	// Acts are the formal investigation acts that must come after 立案 in
	// general procedure (an act with data.emergency true is exempt).
	// Default inquiry.recorded, evidence.collected, evidence.preserved,
	// measure.imposed, investigation.concluded.
	Acts []string `json:"acts,omitempty"`
}

// NoticeParams: rule notice-before-decision.
type NoticeParams struct {
	// Window is the statement window (陈述申辩期限) after notice.served.
	// Default 5 working days.
	Window Period `json:"window"`
}

// HearingParams: rule hearing.
type HearingParams struct {
	// RequestWindow is how long after the notice a hearing request binds.
	// Default 5 working days (Art 64(1), Art 85).
	RequestWindow Period `json:"request_window"`
	// NoticeLead is how long before the hearing the party must be
	// notified. Default 7 working days (Art 64(2), Art 85).
	NoticeLead Period `json:"notice_lead"`
}

// MajorParams is the agency's list of major decisions (重大执法决定法制审核
// 目录清单) for rules legal-review and collective-discussion, besides the
// decision's own major flag.
type MajorParams struct {
	// PersonFineFen: a fine of at least this on a natural person is major.
	// Default 1,000,000 fen (10,000 元). Negative: no threshold.
	PersonFineFen int64 `json:"person_fine_fen,omitempty"`
	// OrgFineFen: a fine of at least this on an organisation is major.
	// Default 10,000,000 fen (100,000 元). Negative: no threshold.
	OrgFineFen int64 `json:"org_fine_fen,omitempty"`
	// Penalties: decisions with any of these penalty kinds are major.
	// Default suspension, revocation.
	Penalties []string `json:"penalties,omitempty"`
	// Categories: penalty decisions in these case categories are major.
	// Default none.
	Categories []string `json:"categories,omitempty"`
}

// DecisionParams: rule decision-90d.
type DecisionParams struct {
	// Days from 立案 to the decision. Default 90 (calendar days).
	Days int `json:"days,omitempty"`
	// WarnDays: a warning from this day on. Default 75.
	WarnDays int `json:"warn_days,omitempty"`
	// ExcludeHearing adds the days from hearing.requested to hearing.held
	// to the period (where a sector rule excludes hearing time).
	ExcludeHearing bool `json:"exclude_hearing,omitempty"`
}

// MeasureParams: rule measure-30d.
type MeasureParams struct {
	// Days is the longest term of a 查封/扣押. Default 30.
	Days int `json:"days,omitempty"`
	// MaxExtraDays is the longest extension. Default 30.
	MaxExtraDays int `json:"max_extra_days,omitempty"`
}

// PublishParams: rule publish-7wd.
type PublishParams struct {
	// Period after the decision. Default 7 working days (118号).
	Period
	// IncludeSimple also requires publication of simple-procedure
	// decisions. Default false.
	IncludeSimple bool `json:"include_simple,omitempty"`
}

// PaymentParams: rule payment-15d.
type PaymentParams struct {
	// Days from service of the decision. Default 15 (calendar days).
	Days int `json:"days,omitempty"`
}

// CourtParams: rule court-enforcement.
type CourtParams struct {
	// ReminderLead: the application comes after this period from the
	// 催告. Default 10 working days (行政强制法 Art 54, Art 69).
	ReminderLead Period `json:"reminder_lead"`
	// ChallengeMonths: the challenge periods end this many months after
	// service (行政诉讼 6 months outlasts 行政复议 60 days). Default 6.
	ChallengeMonths int `json:"challenge_months,omitempty"`
	// WindowMonths: the application is due within this many months after
	// the challenge periods end. Default 3.
	WindowMonths int `json:"window_months,omitempty"`
}

// NightParams: rule no-night-holiday-enforcement.
type NightParams struct {
	// From and To bound the night, "HH:MM", wrapping midnight. Default
	// 22:00 and 06:00.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// AVParams: rule av-coverage.
type AVParams struct {
	// Scenes are the acts that need audio-video coverage: a record type, or
	// type:method for document.served. Default measure.imposed,
	// enforcement.executed, evidence.preserved, hearing.held,
	// document.served:left.
	Scenes []string `json:"scenes,omitempty"`
	// Grace is how long after the act a covering recording may still
	// arrive before the finding shows. Default 24h.
	Grace Duration `json:"grace,omitempty"`
	// RequireMediaTimes: the act's own audio/video media count only with
	// started_at and ended_at spanning the act. Default false: the act's
	// own audio/video media count even without times.
	RequireMediaTimes bool `json:"require_media_times,omitempty"`
}

// UploadParams: rule late-upload.
type UploadParams struct {
	// MaxDelay from occurred_at to recorded_at. Default 24h.
	MaxDelay Duration `json:"max_delay,omitempty"`
	// FutureTolerance: occurred_at later than recorded_at by more is a
	// clock anomaly. Default 1m.
	FutureTolerance Duration `json:"future_tolerance,omitempty"`
	// MaxClockOffset: a device.clock_observed offset beyond this is a
	// clock anomaly. Default 1m.
	MaxClockOffset Duration `json:"max_clock_offset,omitempty"`
}

// LoadParams reads an agency's parameters from a JSON file. Unknown fields
// are errors, so that a misspelt parameter is not silently ignored.
func LoadParams(path string) (Params, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Params{}, fmt.Errorf("compliance: params: %w", err)
	}
	return ParseParams(b)
}

// ParseParams decodes and validates parameters from JSON.
func ParseParams(b []byte) (Params, error) {
	var p Params
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Params{}, fmt.Errorf("compliance: params: %v", err)
	}
	return p, p.Validate()
}

// Validate reports every problem with p.
func (p *Params) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("compliance: params: "+format, a...)) }
	if p.Zone != "" {
		if _, err := projections.LoadZone(p.Zone); err != nil {
			bad("zone %q: %v", p.Zone, err)
		}
	}
	for _, id := range p.Disabled {
		if _, ok := ruleByID[id]; !ok {
			bad("disabled: no rule %q", id)
		}
	}
	types := map[string]bool{}
	for _, t := range catalog.Types() {
		types[t.Name] = true
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"two_officers.acts", p.TwoOfficers.Acts}, {"filed_before_investigation.acts", p.Filing.Acts}} {
		for _, t := range l.v {
			if !types[t] {
				bad("%s: unknown record type %q", l.name, t)
			}
		}
	}
	for _, s := range p.AV.Scenes {
		typ, method, _ := strings.Cut(s, ":")
		if !types[typ] || method != "" && !valueOf(enumValues("document.served", "method"), method) {
			bad("av_coverage.scenes: bad scene %q", s)
		}
	}
	for _, m := range p.TwoOfficers.ServiceMethods {
		if !valueOf(enumValues("document.served", "method"), m) {
			bad("two_officers.service_methods: unknown method %q", m)
		}
	}
	for _, k := range p.Major.Penalties {
		if !valueOf(enumValues("decision.made", "penalties"), k) {
			bad("major.penalties: unknown penalty %q", k)
		}
	}
	for _, k := range p.Major.Categories {
		if !valueOf(catalog.Categories(), k) {
			bad("major.categories: unknown category %q", k)
		}
	}
	for _, pr := range []struct {
		name string
		v    Period
	}{{"notice_before_decision.window", p.Notice.Window}, {"hearing.request_window", p.Hearing.RequestWindow},
		{"hearing.notice_lead", p.Hearing.NoticeLead}, {"preservation_7d", p.Preservation}, {"service_7d", p.Service},
		{"publish_7wd", p.Publish.Period}, {"withdraw_3d", p.Withdraw}, {"court_enforcement.reminder_lead", p.Court.ReminderLead}} {
		if pr.v.Days < 0 || pr.v.Days > 3660 {
			bad("%s.days: %d out of range", pr.name, pr.v.Days)
		}
		if pr.v.Unit != "" && pr.v.Unit != UnitCalendar && pr.v.Unit != UnitWorking {
			bad("%s.unit: %q is neither calendar nor working", pr.name, pr.v.Unit)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"two_officers.min", p.TwoOfficers.Min}, {"decision_90d.days", p.Decision.Days}, {"decision_90d.warn_days", p.Decision.WarnDays},
		{"measure_30d.days", p.Measure.Days}, {"measure_30d.max_extra_days", p.Measure.MaxExtraDays}, {"payment_15d.days", p.Payment.Days},
		{"court_enforcement.challenge_months", p.Court.ChallengeMonths}, {"court_enforcement.window_months", p.Court.WindowMonths},
		{"public_notice.days", p.PublicNotice.Days}} {
		if n.v < 0 || n.v > 3660 {
			bad("%s: %d out of range", n.name, n.v)
		}
	}
	if p.PeriodEnd != "" && p.PeriodEnd != PeriodEndNextWorkingDay && p.PeriodEnd != PeriodEndSameDay {
		bad("period_end_on_rest_day: %q is neither %s nor %s", p.PeriodEnd, PeriodEndNextWorkingDay, PeriodEndSameDay)
	}
	if p.Decision.WarnDays != 0 && p.Decision.Days != 0 && p.Decision.WarnDays > p.Decision.Days {
		bad("decision_90d.warn_days %d is after days %d", p.Decision.WarnDays, p.Decision.Days)
	}
	for _, c := range []struct{ name, v string }{{"no_night_holiday_enforcement.from", p.Night.From}, {"no_night_holiday_enforcement.to", p.Night.To}} {
		if c.v != "" {
			if _, err := clockMinutes(c.v); err != nil {
				bad("%s: %v", c.name, err)
			}
		}
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"av_coverage.grace", p.AV.Grace}, {"late_upload.max_delay", p.Upload.MaxDelay},
		{"late_upload.future_tolerance", p.Upload.FutureTolerance}, {"late_upload.max_clock_offset", p.Upload.MaxClockOffset}} {
		if d.v < 0 {
			bad("%s: negative", d.name)
		}
	}
	return errors.Join(errs...)
}

// enumValues returns the allowed values of a field of a record type.
func enumValues(typ, field string) []catalog.Value {
	t, _ := catalog.Lookup(typ)
	for _, f := range t.Fields {
		if f.Name == field {
			if f.Elem != nil {
				return f.Elem.Values
			}
			return f.Values
		}
	}
	return nil
}

func valueOf(vs []catalog.Value, code string) bool {
	return slices.ContainsFunc(vs, func(v catalog.Value) bool { return v.Code == code })
}

// clockMinutes parses "HH:MM" into minutes after midnight.
func clockMinutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// withDefaults returns p with every zero field set to its default.
func (p Params) withDefaults() Params {
	or := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	per := func(v *Period, days int, unit string) {
		or(&v.Days, days)
		if v.Unit == "" {
			v.Unit = unit
		}
	}
	strs := func(v *[]string, d ...string) {
		if len(*v) == 0 {
			*v = d
		}
	}
	dur := func(v *Duration, d time.Duration) {
		if *v == 0 {
			*v = Duration(d)
		}
	}
	if p.Zone == "" {
		p.Zone = projections.DefaultZone
	}
	p.Disabled = slices.Clone(p.Disabled)
	slices.Sort(p.Disabled)
	or(&p.TwoOfficers.Min, 2)
	strs(&p.TwoOfficers.Acts, "inspection.recorded", "inquiry.recorded", "evidence.collected", "evidence.preserved",
		"measure.imposed", "document.served", "hearing.held", "enforcement.executed")
	strs(&p.TwoOfficers.ServiceMethods, catalog.MethodDirect, catalog.MethodLeft)
	strs(&p.Filing.Acts, "inquiry.recorded", "evidence.collected", "evidence.preserved", "measure.imposed", "investigation.concluded")
	per(&p.Notice.Window, 5, UnitWorking)
	per(&p.Hearing.RequestWindow, 5, UnitWorking)
	per(&p.Hearing.NoticeLead, 7, UnitWorking)
	if p.Major.PersonFineFen == 0 {
		p.Major.PersonFineFen = 1_000_000
	}
	if p.Major.OrgFineFen == 0 {
		p.Major.OrgFineFen = 10_000_000
	}
	strs(&p.Major.Penalties, catalog.PenaltySuspension, catalog.PenaltyRevocation)
	or(&p.Decision.Days, 90)
	or(&p.Decision.WarnDays, min(75, p.Decision.Days))
	per(&p.Preservation, 7, UnitWorking)
	or(&p.Measure.Days, 30)
	or(&p.Measure.MaxExtraDays, 30)
	per(&p.Service, 7, UnitWorking)
	per(&p.Publish.Period, 7, UnitWorking)
	per(&p.Withdraw, 3, UnitWorking)
	or(&p.Payment.Days, 15)
	per(&p.Court.ReminderLead, 10, UnitWorking)
	or(&p.Court.ChallengeMonths, 6)
	or(&p.Court.WindowMonths, 3)
	if p.Night.From == "" {
		p.Night.From = "22:00"
	}
	if p.Night.To == "" {
		p.Night.To = "06:00"
	}
	strs(&p.AV.Scenes, "measure.imposed", "enforcement.executed", "evidence.preserved", "hearing.held", "document.served:left")
	dur(&p.AV.Grace, 24*time.Hour)
	dur(&p.Upload.MaxDelay, 24*time.Hour)
	dur(&p.Upload.FutureTolerance, time.Minute)
	dur(&p.Upload.MaxClockOffset, time.Minute)
	if p.PeriodEnd == "" {
		p.PeriodEnd = PeriodEndNextWorkingDay
	}
	or(&p.PublicNotice.Days, 30)
	return p
}
