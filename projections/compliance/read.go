package compliance

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/report"
)

// Reading: a finding shows when the clock passes its From (and until its
// Until, for a warning superseded by a violation). Everything below reads a
// snapshot and takes the clock as an argument; nothing is written.

// materialize returns the finding as shown at now: an open payment-15d
// finding with its overdue days and surcharge.
func (p *Projection) materialize(f *pot, now time.Time) projections.Finding {
	out := f.Finding
	out.Seqs = slices.Clone(f.Seqs)
	if f.Rule == RulePayment15d && f.Open && f.FineFen > 0 && f.Due != nil && now.After(*f.Due) {
		days := calendarDays(*f.Due, now, p.loc)
		out.SurchargeFen = casefile.Surcharge(f.FineFen, days)
		out.Message = fmt.Sprintf("%s，已逾期%d日，加处罚款%s（每日百分之三，不超过罚款数额）", f.Message, days, yuan(out.SurchargeFen))
	}
	return out
}

// Case returns the findings of case id visible at now, and the open
// deadlines of its rules, from sn. It implements casefile.Compliance. A
// case the projection has not seen has neither.
func (p *Projection) Case(sn *projections.Snapshot, id uuid.UUID, now time.Time) ([]projections.Finding, []casefile.Deadline, error) {
	fs, ds := []projections.Finding{}, []casefile.Deadline{}
	b, err := sn.Get(caseKey(id))
	if err != nil || b == nil {
		return fs, ds, err
	}
	c, err := p.decodeState(id, b)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range c.Pots {
		v, err := sn.Get(r.Key)
		if err != nil {
			return nil, nil, err
		}
		if v == nil {
			return nil, nil, fmt.Errorf("compliance: case %s: index entry %x missing", id, r.Key)
		}
		s, err := p.decodeStored(r.Key, v)
		if err != nil {
			return nil, nil, err
		}
		if s.visible(now) {
			fs = append(fs, p.materialize(&s.pot, now))
		}
		if s.Open && s.Due != nil && s.Until == nil {
			if name := ruleByID[s.Rule].Deadline; name != "" {
				ds = append(ds, casefile.Deadline{Rule: s.Rule, Name: name, Basis: s.Basis, Seq: s.Seqs[0], Due: *s.Due, Overdue: now.After(*s.Due)})
			}
		}
	}
	sortFindings(fs)
	return fs, ds, nil
}

// Known reports whether the projection has seen case id.
func Known(sn *projections.Snapshot, id uuid.UUID) (bool, error) {
	b, err := sn.Get(caseKey(id))
	return b != nil, err
}

// Owns implements casefile.Compliance: the deadlines of these rules come
// from the rules engine.
func (p *Projection) Owns(rule string) bool { return ruleByID[rule].Deadline != "" }

func sortFindings(fs []projections.Finding) {
	slices.SortStableFunc(fs, func(a, b projections.Finding) int {
		return cmp.Or(cmp.Compare(a.Seqs[0], b.Seqs[0]), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Check, b.Check))
	})
}

// Filter selects findings of the list. Zero fields do not filter.
type Filter struct {
	Rule     string // a rule id
	Open     *bool  // open (still uncorrected) or closed
	Severity string // projections.Violation or projections.Warning
}

// Page is one page of the findings list: open findings first, then by rule
// id, by the time each showed, by case.
type Page struct {
	Findings []projections.Finding `json:"findings"`
	Next     string                `json:"next,omitempty"` // cursor of the next page
	AsOf     casefile.AsOf         `json:"as_of"`
}

// ErrCursor is returned for a malformed cursor.
var ErrCursor = errors.New("compliance: malformed cursor")

// List returns up to limit findings matching f visible at now, starting at
// cursor (from a previous Page.Next; "" for the first page).
//
// The index is ordered by status, rule and the time a finding shows, so a
// page costs the findings it returns plus one seek per rule past now: the
// deadlines that have not passed yet are skipped without being read.
func (p *Projection) List(sn *projections.Snapshot, f Filter, now time.Time, limit int, cursor string) (*Page, error) {
	var from []byte
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !bytes.HasPrefix(b, prefixLive) {
			return nil, ErrCursor
		}
		from = b
	}
	page := &Page{Findings: []projections.Finding{}, AsOf: casefile.AsOf{Size: sn.Size, Time: now}}
	var ranges [][]byte // key prefixes to scan, in order
	for _, st := range []byte{statusOpen, statusClosed} {
		if f.Open != nil && *f.Open != (st == statusOpen) {
			continue
		}
		r := append(slices.Clip(prefixLive), st)
		if f.Rule != "" {
			r = append(append(r, f.Rule...), 0)
		}
		ranges = append(ranges, r)
	}
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: prefixLive, UpperBound: projections.PrefixEnd(prefixLive)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	nowKey := binary.BigEndian.AppendUint64(nil, timeKey(now))
	for _, r := range ranges {
		end := projections.PrefixEnd(r)
		start := r
		if from != nil {
			if bytes.Compare(from, end) >= 0 {
				continue
			}
			if bytes.Compare(from, r) > 0 {
				start = from
			}
		}
		for ok := it.SeekGE(start); ok && bytes.Compare(it.Key(), end) < 0; {
			k := it.Key()
			rule, rest, _ := bytes.Cut(k[len(prefixLive)+1:], []byte{0})
			if len(rest) < 8 || bytes.Compare(rest[:8], nowKey) > 0 {
				// This rule's findings from here on show after now.
				ruleEnd := projections.PrefixEnd(k[:len(prefixLive)+1+len(rule)+1])
				ok = it.SeekGE(ruleEnd)
				continue
			}
			s, err := p.decodeStored(k, it.Value())
			if err != nil {
				return nil, err
			}
			if s.visible(now) && (f.Severity == "" || s.Severity == f.Severity) {
				if len(page.Findings) == limit {
					page.Next = base64.RawURLEncoding.EncodeToString(k)
					return page, nil
				}
				page.Findings = append(page.Findings, p.materialize(&s.pot, now))
			}
			ok = it.Next()
		}
		if err := it.Error(); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// Count implements report.Findings: the findings of year by rule, as the
// first size entries show them at now. A finding counts in the year of the
// time it shows (a deadline's due date, an act's time). Findings that later
// entries changed or removed are read from the history index, so the answer
// as of an earlier size is the same every time for a past year.
func (p *Projection) Count(sn *projections.Snapshot, year int, size uint64, now time.Time) (map[string]int64, error) {
	m := map[string]int64{}
	err := p.scanYear(sn, year, "", size, now, func(rule string, _ uuid.UUID, _ uint64) { m[rule]++ })
	return m, err
}

// Items implements report.Findings: the findings of rule that Count counts,
// each as its first entry (seq) and case, value 1, in seq order.
func (p *Projection) Items(sn *projections.Snapshot, year int, rule string, size uint64, now time.Time) ([]report.Item, error) {
	items := []report.Item{}
	err := p.scanYear(sn, year, rule, size, now, func(_ string, c uuid.UUID, seq uint64) {
		it := report.Item{Seq: seq, Value: 1}
		if c != uuid.Nil {
			it.CaseID = c.String()
		}
		items = append(items, it)
	})
	slices.SortStableFunc(items, func(a, b report.Item) int { return cmp.Compare(a.Seq, b.Seq) })
	return items, err
}

// scanYear calls fn for every finding of year (of rule, if not "") that the
// first size entries show at now.
func (p *Projection) scanYear(sn *projections.Snapshot, year int, rule string, size uint64, now time.Time, fn func(rule string, c uuid.UUID, seq uint64)) error {
	y0 := time.Date(year, 1, 1, 0, 0, 0, 0, p.loc)
	y1 := time.Date(year+1, 1, 1, 0, 0, 0, 0, p.loc)
	hi := y1
	if n := now.Add(time.Nanosecond); n.Before(hi) {
		hi = n
	}
	if !hi.After(y0) {
		return nil
	}
	ids := []string{rule}
	if rule == "" {
		ids = ids[:0]
		for _, r := range rules {
			ids = append(ids, r.ID)
		}
	}
	// Live entries: those added before size.
	for _, st := range []byte{statusOpen, statusClosed} {
		for _, id := range ids {
			pre := append(append(append(slices.Clip(prefixLive), st), id...), 0)
			lo := binary.BigEndian.AppendUint64(slices.Clip(pre), timeKey(y0))
			up := binary.BigEndian.AppendUint64(slices.Clip(pre), timeKey(hi))
			if err := scan(sn, lo, up, func(k, v []byte) error {
				s, err := p.decodeStored(k, v)
				if err != nil {
					return err
				}
				if s.Add < size && s.visible(now) {
					r, _ := parseLive(k)
					fn(id, r.case_, r.seq)
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	// History: entries added before size and ended at or after it.
	pre := binary.BigEndian.AppendUint16(slices.Clip(prefixHistory), uint16(year))
	if rule != "" {
		pre = append(append(pre, rule...), 0)
	}
	return scan(sn, pre, projections.PrefixEnd(pre), func(k, v []byte) error {
		rest := k[len(prefixHistory)+2:]
		r, rest, _ := bytes.Cut(rest, []byte{0})
		if len(rest) < 32+9 {
			return fmt.Errorf("compliance: history key %x", k)
		}
		from := timeOfKey(binary.BigEndian.Uint64(rest))
		add := binary.BigEndian.Uint64(rest[len(rest)-8:])
		d := &decoder{b: v, loc: p.loc}
		until, end := d.opttime(), d.uv()
		if d.err != nil {
			return fmt.Errorf("compliance: history value %x", v)
		}
		if add < size && end >= size && !from.After(now) && (until == nil || now.Before(*until)) {
			var c uuid.UUID
			copy(c[:], rest[8:24])
			fn(string(r), c, binary.BigEndian.Uint64(rest[24:32]))
		}
		return nil
	})
}

func scan(sn *projections.Snapshot, lo, up []byte, fn func(k, v []byte) error) error {
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: up})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

var (
	_ casefile.Compliance = (*Projection)(nil)
	_ report.Findings     = (*Projection)(nil)
)
