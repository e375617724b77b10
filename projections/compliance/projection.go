package compliance

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/projections"
)

// Name is the projection's name.
const Name = "compliance"

// schema is the version of Apply's writes; Version adds a fingerprint of
// the parameters and the calendar.
const schema = 6

// Config configures the projection. The zero value of every field means its
// default.
type Config struct {
	// Params are the agency's rule parameters (LoadParams). Default: the
	// national defaults.
	Params Params
	// Calendar counts working days and names holidays. Default
	// DefaultCalendar().
	Calendar *Calendar
	// Location is the agency's time zone, e.g. serve's -timezone. Default:
	// Params.Zone (itself Asia/Shanghai by default).
	Location *time.Location
	// Now is the clock findings are read at: a deadline that passes with no
	// event shows once Now is past it. Default time.Now. It is used only
	// when reading, never while applying entries.
	Now func() time.Time
}

// Projection is the compliance projection: it keeps what the rules need of
// every case, evaluates the rules when an entry changes a case, and indexes
// every finding the case will have at some time (see the package doc). It
// implements projections.Projection, casefile.Compliance and
// report.Findings.
type Projection struct {
	params  Params // with defaults
	cal     *Calendar
	loc     *time.Location
	now     func() time.Time
	version int

	disabled     map[string]bool
	twoActs      map[string]bool
	serviceOnSit map[string]bool
	filingActs   map[string]bool
	majorPen     map[string]bool
	majorCat     map[string]bool
	scenes       map[string]bool
	nightFrom    int // minutes after midnight
	nightTo      int
	readers      map[string]ruleSet // record type → rules that read it
	enabled      ruleSet

	// verify makes every partial evaluation check itself against a full
	// one (tests).
	verify bool
}

// New returns the compliance projection.
func New(cfg Config) (*Projection, error) {
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	p := &Projection{params: cfg.Params.withDefaults(), cal: cfg.Calendar, now: cfg.Now}
	if p.cal == nil {
		p.cal = DefaultCalendar()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if cfg.Location != nil {
		p.params.Zone = cfg.Location.String()
		p.loc = cfg.Location
	} else {
		loc, err := projections.LoadZone(p.params.Zone)
		if err != nil {
			return nil, err
		}
		p.loc = loc
	}
	set := func(vs []string) map[string]bool {
		m := map[string]bool{}
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	p.disabled = set(p.params.Disabled)
	p.twoActs = set(p.params.TwoOfficers.Acts)
	p.serviceOnSit = set(p.params.TwoOfficers.ServiceMethods)
	p.filingActs = set(p.params.Filing.Acts)
	p.majorPen = set(p.params.Major.Penalties)
	p.majorCat = set(p.params.Major.Categories)
	p.scenes = set(p.params.AV.Scenes)
	p.nightFrom, _ = clockMinutes(p.params.Night.From)
	p.nightTo, _ = clockMinutes(p.params.Night.To)
	p.buildReaders()

	// The version changes with anything that changes what Apply writes.
	b, _ := json.Marshal(p.params)
	h := fnv.New32a()
	h.Write(b)
	binary.Write(h, binary.BigEndian, p.cal.sum)
	p.version = schema<<32 | int(h.Sum32())
	return p, nil
}

// Name implements projections.Projection.
func (*Projection) Name() string { return Name }

// Version implements projections.Projection. It includes a fingerprint of
// the parameters and of the holiday calendar, so that changing either
// rebuilds the store (the old build serves meanwhile).
func (p *Projection) Version() int { return p.version }

// Concurrent implements projections.Concurrent: evaluating the rules costs
// about as much as the store's other projections together, so they are
// applied on a goroutine of their own.
func (*Projection) Concurrent() bool { return true }

// Params returns the parameters in effect, defaults filled in.
func (p *Projection) Params() Params { return p.params }

// Keys. See the package doc.

var (
	prefixCase    = []byte("cm/c/")
	prefixLive    = []byte("cm/l/")
	prefixHistory = []byte("cm/h/")
	prefixRec     = []byte("cm/r/")
	prefixPending = []byte("cm/p/")
	prefixDevice  = []byte("cm/v/")
)

const (
	statusOpen   = '0'
	statusClosed = '1'
)

func caseKey(c uuid.UUID) []byte  { return append(slices.Clip(prefixCase), c[:]...) }
func recKey(id uuid.UUID) []byte  { return append(slices.Clip(prefixRec), id[:]...) }
func pendKey(id uuid.UUID) []byte { return append(slices.Clip(prefixPending), id[:]...) }
func deviceKey(d string) []byte   { return append(slices.Clip(prefixDevice), d...) }

// timeKey encodes t so that byte order is time order.
func timeKey(t time.Time) uint64 { return uint64(t.UnixNano()) ^ 1<<63 }

func timeOfKey(k uint64) time.Time { return time.Unix(0, int64(k^1<<63)) }

// liveKey is cm/l/<status><rule>\0<from:8><case:16><seq:8><check>.
func liveKey(f *pot, c uuid.UUID) []byte {
	return buildLiveKey(f.Open, f.Rule, timeKey(f.From), c, f.Seqs[0], f.Check)
}

// buildLiveKey builds a live key from its parts; from is timeKey's
// encoding. check may carry the duplicate suffix.
func buildLiveKey(open bool, rule string, from uint64, c uuid.UUID, seq uint64, check string) []byte {
	return appendLiveKey(make([]byte, 0, len(prefixLive)+len(rule)+len(check)+34), open, rule, from, c, seq, check)
}

// appendLiveKey appends the live key of the parts to k.
func appendLiveKey(k []byte, open bool, rule string, from uint64, c uuid.UUID, seq uint64, check string) []byte {
	k = append(k, prefixLive...)
	if open {
		k = append(k, statusOpen)
	} else {
		k = append(k, statusClosed)
	}
	k = append(append(k, rule...), 0)
	k = binary.BigEndian.AppendUint64(k, from)
	k = append(k, c[:]...)
	k = binary.BigEndian.AppendUint64(k, seq)
	return append(k, check...)
}

func parseLiveKey(k []byte) liveRef { r, _ := parseLive(k); return r }

// liveRef is a parsed live key.
type liveRef struct {
	open  bool
	rule  string
	from  time.Time
	case_ uuid.UUID
	seq   uint64
	check string
}

func parseLive(k []byte) (liveRef, bool) {
	k, ok := bytes.CutPrefix(k, prefixLive)
	if !ok || len(k) < 1 {
		return liveRef{}, false
	}
	r := liveRef{open: k[0] == statusOpen}
	rule, rest, ok := bytes.Cut(k[1:], []byte{0})
	if !ok || len(rest) < 32 {
		return liveRef{}, false
	}
	r.rule = string(rule)
	r.from = timeOfKey(binary.BigEndian.Uint64(rest))
	copy(r.case_[:], rest[8:24])
	r.seq = binary.BigEndian.Uint64(rest[24:32])
	r.check = string(rest[32:])
	return r, true
}

// historyKey is cm/h/<year:2><rule>\0<from:8><case:16><seq:8><check>\0<add:8>:
// a finding that was in the live index from entry add until an entry
// changed or removed it.
func historyKey(live []byte, year int, add uint64) []byte {
	rest := live[len(prefixLive)+1:] // <rule>\0...
	k := make([]byte, 0, len(live)+16)
	k = append(k, prefixHistory...)
	k = binary.BigEndian.AppendUint16(k, uint16(year))
	k = append(append(k, rest...), 0)
	return binary.BigEndian.AppendUint64(k, add)
}

// pot is a finding the case has, or will have, at some time: visible from
// From until Until (nil: for good). A deadline that has not passed yet is a
// pot whose From is the due date.
type pot struct {
	projections.Finding
	From  time.Time  `json:"from"`
	Until *time.Time `json:"until,omitempty"`
	// FineFen is the fine an open payment-15d finding accrues its
	// surcharge on, computed when read.
	FineFen int64 `json:"fine_fen,omitempty"`
}

func (f *pot) visible(now time.Time) bool {
	return !f.From.After(now) && (f.Until == nil || now.Before(*f.Until))
}

// stored is a live index value.
type stored struct {
	pot
	Add uint64 `json:"add"` // the entry that added it
}

// A history index value is until:opttime end:uv, end being the entry that
// changed or removed the finding.

// potRef is how a case's state remembers one of its live index entries.
type potRef struct {
	Key   []byte
	Hash  uint64
	Add   uint64
	Until *time.Time
	From  time.Time
	rule  ruleSet // the key's rule
}

// Apply implements projections.Projection. It never reads a clock: what it
// writes depends on the entries only.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	only := p.readers[e.Type]
	d := dataPool.Get().(*data)
	defer func() {
		*d = data{} // nothing keeps d: the state copies what it reads
		dataPool.Put(d)
	}()
	if needsData[e.Type] && (only != 0 || e.CaseID == uuid.Nil || e.Type == "document.served" || e.Type == "device.clock_observed") {
		if err := e.DecodeData(d); err != nil {
			return err
		}
	}
	local, err := p.entryFindings(tx, e, d)
	if err != nil {
		return err
	}
	if e.Type == "recording.made" {
		if err := p.recordingMade(tx, e, d); err != nil {
			return err
		}
	}
	if e.CaseID == uuid.Nil {
		// Findings without a case (a device's clock, a recording not yet
		// linked) never change: straight into the index.
		for i := range local {
			if err := p.putLive(tx, &local[i], uuid.Nil, e.Seq); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range local {
		only.add(f.Rule)
	}
	// Only this case's entries write its state, but for one exception: a
	// recording.made completing a pending link, which finds the state
	// there already. So LoadCase can skip the store for a case begun
	// since the runtime's cache was emptied.
	c, err := projections.LoadCase(tx, caseKey(e.CaseID), p.stateDecoder(e.CaseID))
	if err != nil {
		return err
	}
	if only == 0 {
		// No rule reads this type: nothing can change. A new case still
		// gets a state, so that its findings (none) can be asked for.
		if c == nil {
			return projections.Save(tx, caseKey(e.CaseID), &caseState{}, p.encodeState)
		}
		return nil
	}
	if c == nil {
		c = &caseState{Evs: make([]*event, 0, 8)}
	}
	c.Static = append(c.Static, local...)
	c.apply(e, d, p.loc)
	if e.Type == "recording.linked" {
		for _, s := range d.Events {
			id, err := uuid.Parse(s)
			if err != nil {
				return fmt.Errorf("compliance: recording.linked: events: %v", err)
			}
			if err := p.link(tx, c, e.CaseID, id); err != nil {
				return err
			}
		}
	}
	return p.reindex(tx, c, e.CaseID, e.Seq, only)
}

// dataPool holds zeroed data values, one decoded per entry.
var dataPool = sync.Pool{New: func() any { return new(data) }}

func (p *Projection) stateDecoder(id uuid.UUID) func([]byte) (*caseState, error) {
	return func(b []byte) (*caseState, error) { return p.decodeState(id, b) }
}

// reindex evaluates the rules in only on c and brings the index in step,
// then saves c. The findings of other rules are kept as they are. seq is
// the entry being applied.
func (p *Projection) reindex(tx *projections.Tx, c *caseState, id uuid.UUID, seq uint64, only ruleSet) error {
	if c.id == "" {
		c.id = id.String()
	}
	pots := p.evaluate(c, c.id, only)
	// Few findings per case: matched by linear search, no maps.
	var keepBuf [32]bool
	keep := keepBuf[:]
	if len(c.Pots) > len(keepBuf) {
		keep = make([]bool, len(c.Pots))
	}
	keep = keep[:len(c.Pots)]
	refs := make([]potRef, 0, len(c.Pots)+len(pots))
	for i, r := range c.Pots {
		if only&r.rule == 0 {
			keep[i] = true
			refs = append(refs, r)
		}
	}
	kept := len(refs)
	var scratch [128]byte // a finding's live key, built to be compared
	for i := range pots {
		f := &pots[i]
		k := appendLiveKey(scratch[:0], f.Open, f.Rule, timeKey(f.From), id, f.Seqs[0], f.Check)
		for slices.ContainsFunc(refs[kept:], func(r potRef) bool { return bytes.Equal(r.Key, k) }) {
			k = append(k, '+') // two findings of one check on one entry: keep both
		}
		sum := f.hash()
		j := slices.IndexFunc(c.Pots, func(r potRef) bool { return bytes.Equal(r.Key, k) })
		if j >= 0 && !keep[j] && c.Pots[j].Hash == sum {
			keep[j] = true
			refs = append(refs, c.Pots[j])
			continue
		}
		k = bytes.Clone(k) // kept in the state
		if j >= 0 {
			// The key is indexed with other content: deleted first, so
			// that every live key is written once per deletion
			// (SingleDelete's contract).
			if err := tx.SingleDelete(k); err != nil {
				return err
			}
		}
		if err := tx.Put(k, encodeStored(f, seq)); err != nil {
			return err
		}
		refs = append(refs, potRef{Key: k, Hash: sum, Add: seq, Until: f.Until, From: f.From, rule: 1 << ruleIndex[f.Rule]})
	}
	for j, r := range c.Pots {
		if keep[j] {
			continue
		}
		if !slices.ContainsFunc(refs[kept:], func(n potRef) bool { return bytes.Equal(n.Key, r.Key) }) {
			if err := tx.SingleDelete(r.Key); err != nil {
				return err
			}
		}
		hv := &encoder{}
		hv.opttime(r.Until)
		hv.uv(seq)
		if err := tx.Put(historyKey(r.Key, r.From.In(p.loc).Year(), r.Add), hv.b); err != nil {
			return err
		}
	}
	slices.SortFunc(refs, func(a, b potRef) int { return bytes.Compare(a.Key, b.Key) })
	c.Pots = refs
	if p.verify && only != allRules {
		if err := p.checkPartial(c, id); err != nil {
			return err
		}
	}
	return projections.Save(tx, caseKey(id), c, p.encodeState)
}

// checkPartial checks that the findings kept after a partial evaluation are
// those of a full one.
func (p *Projection) checkPartial(c *caseState, id uuid.UUID) error {
	var want []string
	seen := map[string]bool{}
	for _, f := range p.evaluate(c, id.String(), allRules) {
		k := liveKey(&f, id)
		for seen[string(k)] {
			k = append(k, '+')
		}
		seen[string(k)] = true
		want = append(want, fmt.Sprintf("%x %x", k, f.hash()))
	}
	var got []string
	for _, r := range c.Pots {
		got = append(got, fmt.Sprintf("%x %x", r.Key, r.Hash))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		return fmt.Errorf("compliance: case %s: partial evaluation differs from a full one:\n got  %v\n want %v", id, got, want)
	}
	return nil
}

// putLive indexes a finding that never changes.
func (p *Projection) putLive(tx *projections.Tx, f *pot, c uuid.UUID, seq uint64) error {
	return tx.Put(liveKey(f, c), encodeStored(f, seq))
}

func at(t time.Time) *time.Time { return &t }

func hours(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f日", d.Hours()/24)
	}
	return fmt.Sprintf("%.1f小时", d.Hours())
}

var _ projections.Concurrent = (*Projection)(nil)
