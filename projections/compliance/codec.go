package compliance

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// The case state is rewritten on every entry of its case, so it has a
// compact binary encoding rather than JSON (the projection's catch-up cost
// is mostly encoding). Times are stored as Unix nanoseconds and read back in
// the agency's zone, so that a state decoded from the store and one kept
// in memory between entries give the same bytes.
//
//	state    = version:1 proc:str cat:str flags:1 n:uv officer:str* n:uv event* n:uv recording* static:bytes(JSON) n:uv potref*
//	event    = has:uv (which fields follow, shifted left by 2, plus the unit of at: 0 ns, 1 ms, 2 s)
//	           seq:v (from the previous event's) type:typ at:v (from the previous event's, in its unit)
//	           then, each if its bit of has is set: offs:(n:uv officer index:uv*) outcome:str pen:(n:uv str*) fen:v flags:1
//	           doc:str method:str who:str when:str n:v ref:uv exempt:str media:(n:uv span*)
//	span     = has:1 (bit 0 from, bit 1 to; bits 2, 3: from, to in milliseconds) [from:v] [to:v]
//	           (from and to as deltas from the event's time: in milliseconds if their bit is set, else nanoseconds)
//	recording= seq:uv from:time to:time n:uv (a:str b:str)*
//	potref   = open:1 rule:1 (index in Rules) seq:uv check:str hash:uv add:uv from:time until:opttime
//	           (the live key is rebuilt from these and the case id)
//	str      = len:uv bytes     time = unix nanos:v     opttime = 0 | 1 time
//	typ      = code:1 (1 + index in the catalogue: v1's 41 types, then case.extended) | 0 str

const stateVersion = 4

// typeCodes numbers the record types for the state encoding: 0 is a type
// written out as a string.
var typeCodes, typeNames = func() (map[string]byte, []string) {
	names := []string{""}
	for _, t := range catalog.Types() {
		names = append(names, t.Name)
	}
	codes := map[string]byte{}
	for i, n := range names[1:] {
		codes[n] = byte(i + 1)
	}
	return codes, names
}()

func (e *encoder) typ(t string) {
	if c, ok := typeCodes[t]; ok {
		e.byte1(c)
		return
	}
	e.byte1(0)
	e.str(t)
}

type encoder struct{ b []byte }

func (e *encoder) uv(v uint64)      { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) v(v int64)        { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte1(c byte)     { e.b = append(e.b, c) }
func (e *encoder) str(s string)     { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(s []byte)   { e.uv(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) { e.v(t.UnixNano()) }
func (e *encoder) strs(ss []string) {
	e.uv(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *encoder) opttime(t *time.Time) {
	if t == nil {
		e.byte1(0)
		return
	}
	e.byte1(1)
	e.time(*t)
}

var errState = errors.New("compliance: malformed case state")

type decoder struct {
	b   []byte
	loc *time.Location
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errState
	}
	d.b = nil
}

func (d *decoder) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) v() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n := d.uv()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.bytes()) }

// count reads a length and checks it against what is left, so that bad
// input cannot make a huge allocation.
func (d *decoder) count() int {
	n := d.uv()
	if n > uint64(len(d.b)) || n > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.str()
	}
	return ss
}

func (d *decoder) time() time.Time { return time.Unix(0, d.v()).In(d.loc) }

func (d *decoder) opttime() *time.Time {
	if d.byte1() == 0 {
		return nil
	}
	t := d.time()
	return &t
}

func (p *Projection) encodeState(c *caseState) ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 256+64*len(c.Evs)+96*len(c.Pots))}
	e.byte1(stateVersion)
	e.str(c.Proc)
	e.str(c.Cat)
	var f byte
	if c.Org {
		f |= 1
	}
	if c.Minor {
		f |= 2
	}
	e.byte1(f)
	// The case's officers, once: its acts name the same few again and again.
	var offs []string
	for _, ev := range c.Evs {
		for _, o := range ev.Offs {
			if !slices.Contains(offs, o) {
				offs = append(offs, o)
			}
		}
	}
	e.strs(offs)
	e.uv(uint64(len(c.Evs)))
	var prevSeq uint64
	var prevAt int64
	for i := range c.Evs {
		ev := c.Evs[i]
		at := ev.At.UnixNano()
		dt := at - prevAt
		// Which optional fields follow, so that absent ones cost nothing.
		var has uint16
		for b, ok := range [...]bool{len(ev.Offs) > 0, ev.Outcome != "", len(ev.Pen) > 0, ev.Fen != 0, ev.Flags != 0,
			ev.Doc != "", ev.Method != "", ev.Who != "", ev.When != "", ev.N != 0, ev.Ref != nil, ev.Exempt != "", len(ev.Media) > 0} {
			if ok {
				has |= 1 << b
			}
		}
		// The time's unit: seconds or milliseconds when exact.
		var unit uint64
		switch {
		case dt%1e9 == 0:
			unit, dt = 2, dt/1e9
		case dt%1e6 == 0:
			unit, dt = 1, dt/1e6
		}
		e.uv(uint64(has)<<2 | unit)
		e.v(int64(ev.Seq - prevSeq)) // seqs and times as deltas from the previous event
		if ev.code != 0 {
			e.byte1(ev.code)
		} else {
			e.typ(ev.Type)
		}
		e.v(dt)
		prevSeq, prevAt = ev.Seq, at
		if has&(1<<0) != 0 {
			e.uv(uint64(len(ev.Offs)))
			for _, o := range ev.Offs {
				e.uv(uint64(slices.Index(offs, o)))
			}
		}
		if has&(1<<1) != 0 {
			e.str(ev.Outcome)
		}
		if has&(1<<2) != 0 {
			e.strs(ev.Pen)
		}
		if has&(1<<3) != 0 {
			e.v(ev.Fen)
		}
		if has&(1<<4) != 0 {
			e.byte1(ev.Flags)
		}
		if has&(1<<5) != 0 {
			e.str(ev.Doc)
		}
		if has&(1<<6) != 0 {
			e.str(ev.Method)
		}
		if has&(1<<7) != 0 {
			e.str(ev.Who)
		}
		if has&(1<<8) != 0 {
			e.str(ev.When)
		}
		if has&(1<<9) != 0 {
			e.v(int64(ev.N))
		}
		if has&(1<<10) != 0 {
			e.uv(*ev.Ref)
		}
		if has&(1<<11) != 0 {
			e.str(ev.Exempt)
		}
		if has&(1<<12) != 0 {
			e.uv(uint64(len(ev.Media)))
			for _, s := range ev.Media {
				// Each end as a delta from the act's time, in milliseconds
				// if exact.
				var has byte
				var ds [2]int64
				for k, t := range [2]*time.Time{s.From, s.To} {
					if t == nil {
						continue
					}
					has |= 1 << k
					if ds[k] = t.UnixNano() - at; ds[k]%1e6 == 0 {
						has |= 4 << k
						ds[k] /= 1e6
					}
				}
				e.byte1(has)
				for k := range ds {
					if has&(1<<k) != 0 {
						e.v(ds[k])
					}
				}
			}
		}
	}
	e.uv(uint64(len(c.Recs)))
	for _, r := range c.Recs {
		e.uv(r.Seq)
		e.time(r.From)
		e.time(r.To)
		e.uv(uint64(len(r.Gaps)))
		for _, g := range r.Gaps {
			e.str(g[0])
			e.str(g[1])
		}
	}
	var static []byte
	if len(c.Static) > 0 {
		var err error
		if static, err = json.Marshal(c.Static); err != nil {
			return nil, err
		}
	}
	e.bytes(static)
	e.uv(uint64(len(c.Pots)))
	for _, r := range c.Pots {
		// The key is rebuilt from its parts and the case id: status, rule,
		// from (as below), seq, check, and the duplicate suffix.
		k := parseLiveKey(r.Key)
		var st byte
		if k.open {
			st = 1
		}
		e.byte1(st)
		e.byte1(byte(ruleIndex[k.rule]))
		e.uv(k.seq)
		e.str(k.check)
		e.uv(r.Hash)
		e.uv(r.Add)
		e.time(r.From)
		e.opttime(r.Until)
	}
	return e.b, nil
}

func (p *Projection) decodeState(id uuid.UUID, b []byte) (*caseState, error) {
	d := &decoder{b: b, loc: p.loc}
	if d.byte1() != stateVersion {
		return nil, errState
	}
	c := &caseState{Proc: d.str(), Cat: d.str()}
	f := d.byte1()
	c.Org, c.Minor = f&1 != 0, f&2 != 0
	offs := d.strs()
	if n := d.count(); n > 0 {
		evs := make([]event, n)
		c.Evs = make([]*event, n, n+1) // room for the entry being applied
		var prevSeq uint64
		var prevAt int64
		for i := range c.Evs {
			ev := &evs[i]
			c.Evs[i] = ev
			hu := d.uv()
			has, unit := hu>>2, hu&3
			ev.Seq = prevSeq + uint64(d.v())
			if c := d.byte1(); c != 0 && int(c) < len(typeNames) {
				ev.Type, ev.code = typeNames[c], c
			} else if c == 0 {
				ev.Type = d.str()
			} else {
				d.fail()
			}
			dt := d.v()
			switch unit {
			case 1:
				dt *= 1e6
			case 2:
				dt *= 1e9
			case 3:
				d.fail()
			}
			at := prevAt + dt
			ev.At = time.Unix(0, at).In(d.loc)
			prevSeq, prevAt = ev.Seq, at
			if has&(1<<0) != 0 {
				if m := d.count(); m > 0 {
					ev.Offs = make([]string, m)
					for j := range ev.Offs {
						if k := d.uv(); k < uint64(len(offs)) {
							ev.Offs[j] = offs[k]
						} else {
							d.fail()
						}
					}
				}
			}
			if has&(1<<1) != 0 {
				ev.Outcome = d.str()
			}
			if has&(1<<2) != 0 {
				ev.Pen = d.strs()
			}
			if has&(1<<3) != 0 {
				ev.Fen = d.v()
			}
			if has&(1<<4) != 0 {
				ev.Flags = d.byte1()
			}
			if has&(1<<5) != 0 {
				ev.Doc = d.str()
			}
			if has&(1<<6) != 0 {
				ev.Method = d.str()
			}
			if has&(1<<7) != 0 {
				ev.Who = d.str()
			}
			if has&(1<<8) != 0 {
				ev.When = d.str()
			}
			if has&(1<<9) != 0 {
				ev.N = int(d.v())
			}
			if has&(1<<10) != 0 {
				r := d.uv()
				ev.Ref = &r
			}
			if has&(1<<11) != 0 {
				ev.Exempt = d.str()
			}
			if has&(1<<12) != 0 {
				if m := d.count(); m > 0 {
					ev.Media = make([]span, m)
					for j := range ev.Media {
						has := d.byte1()
						if has >= 16 {
							d.fail()
						}
						for k, end := range [2]**time.Time{&ev.Media[j].From, &ev.Media[j].To} {
							if has&(1<<k) == 0 {
								continue
							}
							dt := d.v()
							if has&(4<<k) != 0 {
								dt *= 1e6
							}
							t := time.Unix(0, at+dt).In(d.loc)
							*end = &t
						}
					}
				}
			}
			if has >= 1<<13 {
				d.fail()
			}
		}
	}
	if n := d.count(); n > 0 {
		c.Recs = make([]recording, n)
		for i := range c.Recs {
			r := &c.Recs[i]
			r.Seq, r.From, r.To = d.uv(), d.time(), d.time()
			if g := d.count(); g > 0 {
				r.Gaps = make([][2]string, g)
				for j := range r.Gaps {
					r.Gaps[j] = [2]string{d.str(), d.str()}
				}
			}
		}
	}
	if static := d.bytes(); len(static) > 0 && d.err == nil {
		if err := json.Unmarshal(static, &c.Static); err != nil {
			return nil, errState
		}
	}
	if n := d.count(); n > 0 {
		c.Pots = make([]potRef, n)
		for i := range c.Pots {
			r := &c.Pots[i]
			open := d.byte1() == 1
			ri := int(d.byte1())
			seq, check := d.uv(), d.str()
			r.Hash, r.Add, r.From, r.Until = d.uv(), d.uv(), d.time(), d.opttime()
			if ri >= len(rules) {
				d.fail()
				break
			}
			r.Key = buildLiveKey(open, rules[ri].ID, timeKey(r.From), id, seq, check)
			r.rule = 1 << ri
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errState
	}
	return c, nil
}

// hash is a fingerprint of everything a pot's stored value holds, computed
// without encoding it: most findings of a case are unchanged by an entry,
// and only changed ones are encoded and written. The legal basis is not
// stored (it is the rule's), so it is not hashed. xxHash (XXH64): the
// fingerprint is kept in the case state, so it must not change between
// processes, as hash/maphash's would.
func (f *pot) hash() uint64 {
	var h potHasher
	h.d.Reset()
	tm := func(t *time.Time) {
		if t == nil {
			h.num(0)
			return
		}
		h.num(1)
		h.num(uint64(t.UnixNano()))
		_, off := t.Zone()
		h.num(uint64(off))
	}
	h.str(f.Rule)
	h.str(f.Check)
	h.str(f.Severity)
	if f.Open {
		h.num(1)
	} else {
		h.num(0)
	}
	h.str(f.Message)
	h.str(f.CaseID)
	h.num(uint64(len(f.Seqs)))
	for _, s := range f.Seqs {
		h.num(s)
	}
	tm(f.Due)
	tm(f.Actual)
	h.num(uint64(f.SurchargeFen))
	tm(&f.From)
	tm(f.Until)
	h.num(uint64(f.FineFen))
	return h.d.Sum64()
}

// potHasher feeds a string as its length (8 bytes, big-endian) then its
// bytes, a number as 8 bytes big-endian.
type potHasher struct {
	d xxhash.Digest
	b [8]byte
}

func (h *potHasher) num(v uint64) {
	binary.BigEndian.PutUint64(h.b[:], v)
	h.d.Write(h.b[:])
}

func (h *potHasher) str(s string) {
	h.num(uint64(len(s)))
	h.d.WriteString(s)
}

// A live index value is what the key does not say of a finding, in binary:
// version:1 severity:1 (0 violation, 1 warning) message:str n:uv seq:uv*
// (the seqs after the first) due:opttime actual:opttime surcharge:v
// until:opttime fine:v add:uv. The rule, check, status, from, case and
// first seq are the key's (liveKey); the legal basis is the rule's, filled
// in when read.
const storedVersion = 2

func encodeStored(f *pot, add uint64) []byte {
	e := &encoder{b: make([]byte, 0, 48+len(f.Message)+8*len(f.Seqs))}
	e.byte1(storedVersion)
	e.byte1(severityCode(f.Severity))
	e.str(f.Message)
	e.uv(uint64(len(f.Seqs) - 1))
	for _, q := range f.Seqs[1:] {
		e.uv(q)
	}
	e.opttime(f.Due)
	e.opttime(f.Actual)
	e.v(f.SurchargeFen)
	e.opttime(f.Until)
	e.v(f.FineFen)
	e.uv(add)
	return e.b
}

func severityCode(s string) byte {
	if s == projections.Warning {
		return 1
	}
	return 0
}

// decodeStored decodes the live index entry k, v.
func (p *Projection) decodeStored(k, v []byte) (*stored, error) {
	r, ok := parseLive(k)
	d := &decoder{b: v, loc: p.loc}
	if !ok || d.byte1() != storedVersion {
		return nil, errState
	}
	s := &stored{}
	f := &s.pot
	f.Rule, f.Check, f.Open, f.From = r.rule, strings.TrimRight(r.check, "+"), r.open, r.from.In(p.loc)
	if r.case_ != uuid.Nil {
		f.CaseID = r.case_.String()
	}
	switch d.byte1() {
	case 0:
		f.Severity = projections.Violation
	case 1:
		f.Severity = projections.Warning
	default:
		d.fail()
	}
	f.Message = d.str()
	f.Seqs = make([]uint64, 1+d.count())
	f.Seqs[0] = r.seq
	for i := 1; i < len(f.Seqs); i++ {
		f.Seqs[i] = d.uv()
	}
	f.Due, f.Actual, f.SurchargeFen = d.opttime(), d.opttime(), d.v()
	f.Until, f.FineFen = d.opttime(), d.v()
	s.Add = d.uv()
	if d.err != nil || len(d.b) != 0 {
		return nil, errState
	}
	f.Basis = ruleByID[f.Rule].Basis
	return s, nil
}
