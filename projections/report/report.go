// Package report is the annual-report projection (法治政府建设 statistics):
// the figures an agency publishes every year, each with the cases and
// entries behind it, reproducible as of any earlier ledger size.
//
// # How a figure is kept
//
// Every entry that changes a figure writes a contribution keyed by year,
// figure and its own seq, and what it changed in that year's totals keyed
// by year and seq: every 64th change of a year (the first included) a
// snapshot of all the year's totals, otherwise only the figures it changed
// (a delta). The report for year Y as of ledger size N is the last snapshot
// of Y with seq < N plus the deltas between it and N: one seek and at most
// 63 small reads, whatever the size of the ledger. The drill-down of a
// figure is its contributions with seq < N. All depend only on entries
// < N, so a report as of N is the same every time it is asked for, before
// or after later entries arrive.
//
// # Keys
//
//	key                                      value
//	rp/c/<case:16>                           per-case state (category, decisions, open applications, lawsuit), JSON
//	rp/t/<year:2>                            the year's running totals: uvarint changes so far, then totals encoding
//	rp/s/<year:2><seq:8>                     the year's totals after entry seq, totals encoding (every 64th change)
//	rp/x/<year:2><seq:8>                     the figures entry seq changed, by how much, totals encoding (the other changes)
//	rp/d/<year:2><figure>\x00<seq:8>         one contribution: {"case","v","ref"}, JSON
//
// The totals encoding is a uvarint count, then for each figure in name
// order a uvarint name length, the name and a varint value.
//
// Years are calendar years of occurred_at in the agency's time zone. A
// ruling, a hearing or an appearance counts in the year of the application
// or lawsuit it belongs to (the cohort), so "3 applied, 2 granted, 1 pending"
// reads as in the seed report.
package report

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Name is the projection's name.
const Name = "report"

// Version is the projection's version; bump it when Apply changes.
// Version 2 writes deltas between totals snapshots.
const Version = 2

// Config configures the report projection. The zero value of every field
// means its default. Location and Calendar decide what is written, so
// changing them requires `rebuild report`; Findings and Now are used only
// when a report is read.
type Config struct {
	// Location is the agency's time zone; a year is a calendar year there.
	// Default Asia/Shanghai.
	Location *time.Location
	// Calendar counts the 7 working days of publications_on_time. Default
	// projections.Weekdays.
	Calendar projections.Calendar
	// Findings, if set, supplies the findings map and the drill-downs of
	// findings.<rule> (package compliance). Default: no findings.
	Findings Findings
	// Now is the clock the findings are judged at (a deadline that passed
	// with no event) and the default year. Default time.Now.
	Now func() time.Time
}

// Findings is what the report needs of the rules engine (package compliance
// implements it). It must be safe for concurrent use.
type Findings interface {
	// Count returns the number of findings of year by rule id, as the
	// first size entries of the ledger show them at now.
	Count(sn *projections.Snapshot, year int, size uint64, now time.Time) (map[string]int64, error)
	// Items returns the findings of rule in year, as Count counts them, in
	// seq order.
	Items(sn *projections.Snapshot, year int, rule string, size uint64, now time.Time) ([]Item, error)
}

// Projection builds the annual report's figures.
type Projection struct {
	loc *time.Location
	cal projections.Calendar
}

// New returns the report projection.
func New(cfg Config) *Projection {
	p := &Projection{loc: cfg.Location, cal: cfg.Calendar}
	if p.loc == nil {
		p.loc, _ = projections.LoadZone("")
	}
	if p.cal == nil {
		p.cal = projections.Weekdays{}
	}
	return p
}

// Name implements projections.Projection.
func (*Projection) Name() string { return Name }

// Version implements projections.Projection.
func (*Projection) Version() int { return Version }

// caseState is what the report remembers of a case.
type caseState struct {
	Category  string      `json:"cat,omitempty"`
	Decisions []decision  `json:"dec,omitempty"`
	Apps      []cohortRef `json:"apps,omitempty"` // court applications without a ruling
	Lawsuit   *lawsuit    `json:"law,omitempty"`  // the latest lawsuit
}

type decision struct {
	Seq        uint64    `json:"seq"`
	DocumentNo string    `json:"doc,omitempty"`
	At         time.Time `json:"at"`
	Published  bool      `json:"pub,omitzero"`
}

type cohortRef struct {
	Year int    `json:"y"`
	Seq  uint64 `json:"s"`
}

type lawsuit struct {
	cohortRef
	Heard    bool `json:"h,omitzero"`
	Appeared bool `json:"a,omitzero"`
}

func caseKey(c uuid.UUID) []byte { return append([]byte("rp/c/"), c[:]...) }

func yearKey(prefix string, year int) []byte {
	return binary.BigEndian.AppendUint16([]byte(prefix), uint16(year))
}

func totalsKey(year int) []byte { return yearKey("rp/t/", year) }

func snapshotKey(year int, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(yearKey("rp/s/", year), seq)
}

func deltaKey(year int, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(yearKey("rp/x/", year), seq)
}

// snapshotEvery is how many changes of a year's totals there are between
// two snapshots of them (the other changes are written as deltas).
const snapshotEvery = 64

func contribPrefix(year int, figure string) []byte {
	return append(append(yearKey("rp/d/", year), figure...), 0)
}

func contribKey(year int, figure string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(contribPrefix(year, figure), seq)
}

// contribution is one entry's part in a figure.
type contribution struct {
	Case string `json:"case"`
	V    int64  `json:"v"`             // 1 for a count, fen for money
	Ref  uint64 `json:"ref,omitempty"` // the application or lawsuit a ruling or hearing belongs to
}

// appendContribution appends c as json.Marshal would encode it (a case id
// needs no escaping), without reflection: it is written for every figure
// an entry changes.
func appendContribution(b []byte, c contribution) []byte {
	b = append(b, `{"case":"`...)
	b = append(b, c.Case...)
	b = append(b, `","v":`...)
	b = strconv.AppendInt(b, c.V, 10)
	if c.Ref != 0 {
		b = append(b, `,"ref":`...)
		b = strconv.AppendUint(b, c.Ref, 10)
	}
	return append(b, '}')
}

func decodeCase(b []byte) (*caseState, error) {
	var c caseState
	if err := jsonv2.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("report: case state: %v", err)
	}
	return &c, nil
}

func encodeCase(c *caseState) ([]byte, error) { return jsonv2.Marshal(c) }

// applier collects one entry's contributions.
type applier struct {
	tx   *projections.Tx
	e    *projections.Entry
	adds []delta
	err  error
}

type delta struct {
	year   int
	figure string
	v      int64
}

func (a *applier) add(year int, figure string, v int64, ref uint64) {
	if a.err != nil {
		return
	}
	a.adds = append(a.adds, delta{year, figure, v})
	b := appendContribution(make([]byte, 0, 80), contribution{Case: a.e.CaseID.String(), V: v, Ref: ref})
	a.err = a.tx.Put(contribKey(year, figure, a.e.Seq), b)
}

// Apply implements projections.Projection.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	if e.CaseID == uuid.Nil {
		return nil
	}
	if _, ok := counted[e.Type]; !ok {
		return nil
	}
	c, err := projections.LoadCase(tx, caseKey(e.CaseID), decodeCase)
	if err != nil {
		return err
	}
	if c == nil {
		c = &caseState{}
	}
	year := e.OccurredAt.In(p.loc).Year()
	a := &applier{tx: tx, e: e, adds: make([]delta, 0, 4)}
	if err := p.contribute(a, c, e, year); err != nil {
		return err
	}
	if a.err != nil {
		return a.err
	}
	if err := projections.Save(tx, caseKey(e.CaseID), c, encodeCase); err != nil {
		return err
	}
	// Each year the entry changed gets a snapshot or a delta at the entry.
	for i, d := range a.adds {
		if slices.ContainsFunc(a.adds[:i], func(x delta) bool { return x.year == d.year }) {
			continue // done with the year's first delta
		}
		r, err := projections.Load(tx, totalsKey(d.year), decodeRunning)
		if err != nil {
			return err
		}
		if r == nil {
			r = &running{}
		}
		var change Totals
		for _, x := range a.adds[i:] {
			if x.year == d.year {
				r.t.add(x.figure, x.v)
				change.add(x.figure, x.v)
			}
		}
		var k, v []byte
		if r.n%snapshotEvery == 0 {
			k, v = snapshotKey(d.year, e.Seq), encodeTotals(&r.t)
		} else {
			k, v = deltaKey(d.year, e.Seq), encodeTotals(&change)
		}
		r.n++
		if err := tx.Put(k, v); err != nil {
			return err
		}
		if err := projections.Save(tx, totalsKey(d.year), r, encodeRunning); err != nil {
			return err
		}
	}
	return nil
}

// counted lists the types that can change a figure (or the case state the
// figures need).
var counted = map[string]struct{}{
	"case.opened": {}, "decision.made": {}, "payment.received": {}, "decision.published": {},
	"review.completed": {}, "discussion.held": {}, "hearing.held": {}, "enforcement.applied": {},
	"enforcement.ruled": {}, "lawsuit.filed": {}, "lawsuit.heard": {}, "reconsideration.filed": {},
}

func (p *Projection) contribute(a *applier, c *caseState, e *projections.Entry, year int) error {
	switch e.Type {
	case "case.opened":
		var d struct{ Procedure, Category string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		c.Category = d.Category
		a.add(year, "cases_opened."+d.Procedure, 1, 0)
		a.add(year, "by_category."+d.Category+".cases_opened", 1, 0)
	case "decision.made":
		var d struct {
			Outcome    string `json:"outcome"`
			FineFen    int64  `json:"fine_fen"`
			DocumentNo string `json:"document_no"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		c.Decisions = append(c.Decisions, decision{Seq: e.Seq, DocumentNo: d.DocumentNo, At: e.OccurredAt})
		a.add(year, "decisions."+d.Outcome, 1, 0)
		if d.Outcome == catalog.OutcomePenalty {
			a.add(year, "fines_decided_fen", d.FineFen, 0)
			if c.Category != "" {
				a.add(year, "by_category."+c.Category+".penalty_decisions", 1, 0)
				a.add(year, "by_category."+c.Category+".fines_decided_fen", d.FineFen, 0)
			}
		}
	case "payment.received":
		var d struct {
			AmountFen int64 `json:"amount_fen"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		a.add(year, "fines_collected_fen", d.AmountFen, 0)
	case "decision.published":
		var d struct {
			DecisionSeq *uint64 `json:"decision_seq"`
			DocumentNo  string  `json:"document_no"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		a.add(year, "publications", 1, 0)
		if dec := findDecision(c.Decisions, d.DecisionSeq, d.DocumentNo); dec != nil {
			due := p.cal.AddWorkingDays(dec.At.In(p.loc), 7)
			if !dec.Published && !e.OccurredAt.After(due) {
				a.add(year, "publications_on_time", 1, dec.Seq)
			}
			dec.Published = true
		}
	case "review.completed":
		a.add(year, "legal_reviews", 1, 0)
	case "discussion.held":
		a.add(year, "collective_discussions", 1, 0)
	case "hearing.held":
		a.add(year, "hearings", 1, 0)
	case "reconsideration.filed":
		a.add(year, "reconsiderations", 1, 0)
	case "enforcement.applied":
		c.Apps = append(c.Apps, cohortRef{Year: year, Seq: e.Seq})
		a.add(year, "court_enforcement.applied", 1, 0)
	case "enforcement.ruled":
		var d struct{ Result string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if len(c.Apps) == 0 || (d.Result != catalog.RulingGranted && d.Result != catalog.RulingDenied) {
			return nil // a ruling without an application counts nowhere
		}
		app := c.Apps[0]
		c.Apps = c.Apps[1:]
		a.add(app.Year, "court_enforcement."+d.Result, 1, app.Seq)
	case "lawsuit.filed":
		c.Lawsuit = &lawsuit{cohortRef: cohortRef{Year: year, Seq: e.Seq}}
		a.add(year, "lawsuits.filed", 1, 0)
	case "lawsuit.heard":
		var d struct {
			Appeared bool `json:"responsible_person_appeared"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		l := c.Lawsuit
		if l == nil {
			return nil
		}
		if !l.Heard {
			l.Heard = true
			a.add(l.Year, "lawsuits.heard", 1, l.Seq)
		}
		if d.Appeared && !l.Appeared {
			l.Appeared = true
			a.add(l.Year, "lawsuits.responsible_person_appeared", 1, l.Seq)
		}
	}
	return nil
}

func findDecision(ds []decision, seq *uint64, docNo string) *decision {
	for i := range ds {
		if seq != nil && ds[i].Seq == *seq || seq == nil && docNo != "" && ds[i].DocumentNo == docNo {
			return &ds[i]
		}
	}
	if seq == nil && docNo == "" && len(ds) > 0 {
		return &ds[len(ds)-1]
	}
	return nil
}
