package compliance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/liuhen/liuhen/projections"
)

//go:embed holidays.json
var shippedHolidays []byte

// A Calendar is China's working-day calendar (工作日): Monday to Friday,
// minus the days off of the public holidays (法定节假日 and the days taken
// with them, 放假), plus the weekend days the State Council makes working days
// (调休上班). It implements projections.Calendar.
//
// The holidays come from data: the State Council General Office's yearly
// notices (国务院办公厅关于…年部分节假日安排的通知), shipped for 2019–2026 in
// holidays.json, which an agency may override year by year (LoadCalendar).
// A year with no notice counts Monday to Friday only.
//
// A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	off   map[civil]string // day off → the holiday's name
	work  map[civil]bool   // make-up working days
	years []int            // notice years covered, ascending
	sum   uint64           // fingerprint of the data

	// days[i] is the kind of day first+i: dayWeekday, dayWorking (a make-up
	// day) or dayOff, for the days from the earliest to the latest listed.
	first int64
	days  []byte
}

const (
	dayWeekday = iota // no notice says anything: Monday to Friday work
	dayWorking
	dayOff
)

// dayNumber numbers the civil date of t (in t's location) from 1970-01-01.
func dayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// civil is a calendar date, yyyymmdd.
type civil int32

func civilOf(t time.Time) civil {
	y, m, d := t.Date()
	return civil(y*10000 + int(m)*100 + d)
}

// HolidayFile is the shape of holidays.json and of an override file.
type HolidayFile struct {
	Comment string        `json:"comment,omitempty"`
	Years   []HolidayYear `json:"years"`
}

// HolidayYear is one year's notice: its holiday blocks and make-up working
// days. Dates are YYYY-MM-DD; a block may start in the previous calendar year
// (元旦).
type HolidayYear struct {
	Year     int            `json:"year"`
	Notice   string         `json:"notice"`
	Holidays []HolidayBlock `json:"holidays"`
	Workdays []string       `json:"workdays"`
}

// HolidayBlock is a run of days off, from and to inclusive.
type HolidayBlock struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// DefaultCalendar returns the shipped calendar (2019–2026).
func DefaultCalendar() *Calendar {
	c, err := ParseCalendar(shippedHolidays, nil)
	if err != nil {
		panic("compliance: shipped holidays.json: " + err.Error())
	}
	return c
}

// LoadCalendar returns the shipped calendar with the years of the override
// file at path replacing the shipped ones (and adding new years). An empty
// path means no override.
func LoadCalendar(path string) (*Calendar, error) {
	if path == "" {
		return DefaultCalendar(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compliance: holiday calendar: %w", err)
	}
	return ParseCalendar(shippedHolidays, b)
}

// ParseCalendar builds a calendar from base and, if not nil, override, both
// in the HolidayFile shape. Each year of override replaces that year of base.
func ParseCalendar(base, override []byte) (*Calendar, error) {
	years := map[int]HolidayYear{}
	for i, b := range [][]byte{base, override} {
		if b == nil {
			continue
		}
		var f HolidayFile
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("compliance: holiday calendar (%s): %v", [...]string{"shipped", "override"}[i], err)
		}
		for _, y := range f.Years {
			years[y.Year] = y
		}
	}
	c := &Calendar{off: map[civil]string{}, work: map[civil]bool{}}
	var errs []error
	h := fnv.New64a()
	for _, yr := range slices.Sorted(maps.Keys(years)) {
		y := years[yr]
		if yr < 1949 || yr > 9999 {
			errs = append(errs, fmt.Errorf("compliance: holiday calendar: bad year %d", yr))
			continue
		}
		c.years = append(c.years, yr)
		fmt.Fprintf(h, "y%d", yr)
		for _, b := range y.Holidays {
			from, err1 := time.Parse(time.DateOnly, b.From)
			to, err2 := time.Parse(time.DateOnly, b.To)
			if err := errors.Join(err1, err2); err != nil || to.Before(from) || to.Sub(from) > 31*24*time.Hour || b.Name == "" {
				errs = append(errs, fmt.Errorf("compliance: holiday calendar %d: bad block %+v", yr, b))
				continue
			}
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				c.off[civilOf(d)] = b.Name
				fmt.Fprintf(h, "o%d", civilOf(d))
			}
		}
		for _, s := range y.Workdays {
			d, err := time.Parse(time.DateOnly, s)
			if err != nil {
				errs = append(errs, fmt.Errorf("compliance: holiday calendar %d: bad workday %q", yr, s))
				continue
			}
			if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
				errs = append(errs, fmt.Errorf("compliance: holiday calendar %d: make-up working day %s is a %s", yr, s, wd))
			}
			c.work[civilOf(d)] = true
			fmt.Fprintf(h, "w%d", civilOf(d))
		}
	}
	for d := range c.work {
		if _, ok := c.off[d]; ok {
			errs = append(errs, fmt.Errorf("compliance: holiday calendar: %d is both a day off and a working day", d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.sum = h.Sum64()
	c.index()
	return c, nil
}

// index builds days from off and work.
func (c *Calendar) index() {
	lo, hi := int64(1<<62), int64(-1<<62)
	num := func(d civil) int64 {
		return time.Date(int(d)/10000, time.Month(int(d)/100%100), int(d)%100, 0, 0, 0, 0, time.UTC).Unix() / 86400
	}
	for d := range c.off {
		lo, hi = min(lo, num(d)), max(hi, num(d))
	}
	for d := range c.work {
		lo, hi = min(lo, num(d)), max(hi, num(d))
	}
	if lo > hi {
		return
	}
	c.first, c.days = lo, make([]byte, hi-lo+1)
	for d := range c.off {
		c.days[num(d)-lo] = dayOff
	}
	for d := range c.work {
		c.days[num(d)-lo] = dayWorking
	}
}

// working reports whether day number n, a weekday wd, is a working day.
func (c *Calendar) working(n int64, wd time.Weekday) bool {
	if i := n - c.first; i >= 0 && i < int64(len(c.days)) {
		switch c.days[i] {
		case dayWorking:
			return true
		case dayOff:
			return false
		}
	}
	return wd != time.Saturday && wd != time.Sunday
}

// Years returns the notice years the calendar holds.
func (c *Calendar) Years() []int { return slices.Clone(c.years) }

// IsWorkingDay reports whether t's day, in t's location, is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool { return c.working(dayNumber(t), t.Weekday()) }

// Holiday returns the name of the public holiday whose days off include
// t's day, in t's location (国庆节, 春节, …).
func (c *Calendar) Holiday(t time.Time) (string, bool) {
	name, ok := c.off[civilOf(t)]
	return name, ok
}

// AddWorkingDays implements projections.Calendar: the end of the n-th
// working day after t's day, in t's location. The day of t is not counted
// (the period starts the next day).
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	day, wd, k := dayNumber(t), t.Weekday(), 0
	for n > 0 {
		k++
		if c.working(day+int64(k), (wd+time.Weekday(k))%7) {
			n--
		}
	}
	y, m, d := t.Date()
	return projections.EndOfDay(time.Date(y, m, d+k, 12, 0, 0, 0, t.Location()))
}

// OnWorkingDay returns the end of t's day, in t's location, if it is a
// working day, else the end of the first working day after it: where a
// period whose last day is a rest day or a public holiday ends
// (期间届满的最后一日是法定节假日的，以节假日后的第一日为期间届满的日期).
func (c *Calendar) OnWorkingDay(t time.Time) time.Time {
	day, wd, k := dayNumber(t), t.Weekday(), 0
	for !c.working(day+int64(k), (wd+time.Weekday(k))%7) {
		k++
	}
	y, m, d := t.Date()
	return projections.EndOfDay(time.Date(y, m, d+k, 12, 0, 0, 0, t.Location()))
}

var _ projections.Calendar = (*Calendar)(nil)
