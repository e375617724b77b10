package console

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/liuhen/liuhen/ledger"
)

// ledgerIndex is what the console keeps about the ledger that no endpoint
// serves: per device, when it was last seen, the gaps in its device.seq,
// its last clock offset and its late uploads; and entries per day. It is
// built by reading the entries once, then only the new ones when a page
// asks (update), so it costs one pass over the ledger after a restart.
type ledgerIndex struct {
	l    *ledger.Ledger
	loc  *time.Location
	late time.Duration

	mu      sync.Mutex
	next    uint64                  // entries indexed; guarded by mu
	days    map[string]int          // entries by occurred_at day (YYYY-MM-DD in loc); guarded by mu
	lastDay string                  // the latest key of days; guarded by mu
	devices map[string]*deviceStats // guarded by mu
}

// maxGaps bounds the gaps kept per device; beyond it only their count grows.
const maxGaps = 256

// deviceStats is one device as the device page shows it.
type deviceStats struct {
	ID           string
	Entries      int
	LastSeq      uint64
	LastRecorded time.Time
	LastOccurred time.Time
	MinDevSeq    int64 // -1: the device never sent device.seq
	MaxDevSeq    int64
	NoSeq        int    // entries without device.seq
	Missing      int64  // device seqs never received, within [MinDevSeq, MaxDevSeq]
	Gaps         []span // the first maxGaps gaps, in order
	OutOfOrder   int    // entries whose device.seq was not above every earlier one
	Late         int    // recorded more than LateUpload after occurred_at
	MaxDelay     time.Duration
	ClockOffset  *int64 // offset_ms of the last device.clock_observed
	ClockAt      time.Time
}

// span is the device seqs From..To, inclusive.
type span struct{ From, To int64 }

func (s span) String() string {
	if s.From == s.To {
		return fmt.Sprint(s.From)
	}
	return fmt.Sprintf("%d–%d", s.From, s.To)
}

func newLedgerIndex(l *ledger.Ledger, loc *time.Location, late time.Duration) *ledgerIndex {
	return &ledgerIndex{l: l, loc: loc, late: late, days: map[string]int{}, devices: map[string]*deviceStats{}}
}

// update indexes the entries appended since the last call.
func (ix *ledgerIndex) update() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for seq, raw := range ix.l.Entries(ix.next) {
		e, err := ledger.DecodeEntry(raw)
		if err != nil {
			return fmt.Errorf("console: entry %d: %w", seq, err)
		}
		var rec struct {
			OccurredAt string `json:"occurred_at"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("console: entry %d: %v", seq, err)
		}
		occurred, err := ledger.ParseTimestamp(rec.OccurredAt)
		if err != nil {
			return fmt.Errorf("console: entry %d: occurred_at: %v", seq, err)
		}
		day := occurred.In(ix.loc).Format(time.DateOnly)
		ix.days[day]++
		ix.lastDay = max(ix.lastDay, day)
		ix.device(e, occurred, raw)
		ix.next = seq + 1
	}
	return nil
}

func (ix *ledgerIndex) device(e *ledger.Entry, occurred time.Time, raw []byte) {
	d := ix.devices[e.DeviceID]
	if d == nil {
		d = &deviceStats{ID: e.DeviceID, MinDevSeq: -1, MaxDevSeq: -1}
		ix.devices[e.DeviceID] = d
	}
	d.Entries++
	d.LastSeq = e.Seq
	d.LastRecorded = e.RecordedAt
	if occurred.After(d.LastOccurred) {
		d.LastOccurred = occurred
	}
	if delay := e.RecordedAt.Sub(occurred); delay > ix.late {
		d.Late++
		d.MaxDelay = max(d.MaxDelay, delay)
	}
	switch n := e.DeviceSeq; {
	case n < 0:
		d.NoSeq++
	case d.MaxDevSeq < 0:
		d.MinDevSeq, d.MaxDevSeq = n, n
	case n > d.MaxDevSeq:
		if n > d.MaxDevSeq+1 {
			d.Missing += n - d.MaxDevSeq - 1
			if len(d.Gaps) < maxGaps {
				d.Gaps = append(d.Gaps, span{d.MaxDevSeq + 1, n - 1})
			}
		}
		d.MaxDevSeq = n
	default:
		d.OutOfOrder++
		if n < d.MinDevSeq {
			// Below everything seen: what lies between was never received.
			d.Missing += d.MinDevSeq - n - 1
			if d.MinDevSeq-n > 1 && len(d.Gaps) < maxGaps {
				d.Gaps = slices.Insert(d.Gaps, 0, span{n + 1, d.MinDevSeq - 1})
			}
			d.MinDevSeq = n
		} else if d.fill(n) {
			d.Missing--
		}
	}
	if e.Type == "device.clock_observed" {
		var rec struct {
			Data struct {
				OffsetMS *int64 `json:"offset_ms"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &rec) == nil && rec.Data.OffsetMS != nil {
			d.ClockOffset, d.ClockAt = rec.Data.OffsetMS, occurred
		}
	}
}

// fill removes device seq n from the gaps, reporting whether it was in one.
func (d *deviceStats) fill(n int64) bool {
	i, found := slices.BinarySearchFunc(d.Gaps, n, func(s span, n int64) int {
		switch {
		case s.To < n:
			return -1
		case s.From > n:
			return 1
		}
		return 0
	})
	if !found {
		return false // a repeat, or in a gap beyond maxGaps
	}
	g := d.Gaps[i]
	switch {
	case g.From == g.To:
		d.Gaps = slices.Delete(d.Gaps, i, i+1)
	case n == g.From:
		d.Gaps[i].From++
	case n == g.To:
		d.Gaps[i].To--
	default:
		d.Gaps[i].To = n - 1
		d.Gaps = slices.Insert(d.Gaps, i+1, span{n + 1, g.To})
	}
	return true
}

// deviceList returns every device, most recently seen first.
func (ix *ledgerIndex) deviceList() ([]deviceStats, error) {
	if err := ix.update(); err != nil {
		return nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	out := make([]deviceStats, 0, len(ix.devices))
	for _, d := range ix.devices {
		c := *d
		c.Gaps = slices.Clone(d.Gaps)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b deviceStats) int {
		return cmp.Or(b.LastRecorded.Compare(a.LastRecorded), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// perDay returns the entries of each of the n days ending with today's,
// or, when none of those days has any but earlier ones do (a ledger of a past
// year), of the n days ending with the latest day that has entries.
func (ix *ledgerIndex) perDay(now time.Time, n int) (days []dayCount, latest bool, err error) {
	if err := ix.update(); err != nil {
		return nil, false, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	end := now.In(ix.loc)
	days = ix.window(end, n)
	total := 0
	for _, d := range days {
		total += d.Count
	}
	if today := end.Format(time.DateOnly); total == 0 && ix.lastDay != "" && ix.lastDay < today {
		last, err := time.ParseInLocation(time.DateOnly, ix.lastDay, ix.loc)
		if err == nil {
			return ix.window(last, n), true, nil
		}
	}
	return days, false, nil
}

func (ix *ledgerIndex) window(end time.Time, n int) []dayCount {
	y, m, d := end.Date()
	out := make([]dayCount, n)
	for i := range n {
		day := time.Date(y, m, d-(n-1-i), 12, 0, 0, 0, ix.loc)
		k := day.Format(time.DateOnly)
		out[i] = dayCount{Day: k, Count: ix.days[k]}
	}
	return out
}

type dayCount struct {
	Day   string
	Count int
}
