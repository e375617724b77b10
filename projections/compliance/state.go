package compliance

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// caseState is what the rules keep of a case: its entries, reduced to the
// fields the rules read, in occurred_at order, and the findings it has in
// the index.
type caseState struct {
	Proc   string      `json:"proc,omitempty"` // procedure
	Cat    string      `json:"cat,omitempty"`  // category
	Org    bool        `json:"org,omitempty"`  // a party is an organisation
	Minor  bool        `json:"minor,omitempty"`
	Evs    []*event    `json:"evs"`
	Recs   []recording `json:"recs,omitempty"`
	Static []pot       `json:"static,omitempty"` // entry findings (two-officers, late-upload)
	Pots   []potRef    `json:"pots,omitempty"`   // the live index entries of the case

	id string // the case id, as findings carry it; set on first use
}

// event is one entry of a case as the rules see it.
type event struct {
	Seq     uint64    `json:"s"`
	Type    string    `json:"t"`
	At      time.Time `json:"a"`            // occurred_at
	Offs    []string  `json:"o,omitempty"`  // officers (id, else 执法证号) of investigation acts
	Outcome string    `json:"oc,omitempty"` // decision outcome; review, ruling, remedy result
	Pen     []string  `json:"p,omitempty"`  // penalties (decision; intended, for a notice)
	Fen     int64     `json:"f,omitempty"`  // fine (decision; intended, for a notice); amount paid
	Flags   uint8     `json:"g,omitempty"`
	Doc     string    `json:"d,omitempty"`  // document_no (decision, publication); document (service)
	Method  string    `json:"m,omitempty"`  // service method
	Who     string    `json:"w,omitempty"`  // reviewer, hearing chair
	When    string    `json:"u,omitempty"`  // deadline, until, hearing_at, as recorded
	N       int       `json:"n,omitempty"`  // term_days, extra_days
	Ref     *uint64   `json:"r,omitempty"`  // decision_seq of a publication
	Exempt  string    `json:"x,omitempty"`  // publish_exempt of a decision
	Media   []span    `json:"md,omitempty"` // the act's own audio/video, for av-coverage
	code    byte      // Type's code in the state encoding, 0 if none
}

const (
	flagMajor = 1 << iota
	flagComplex
	flagEmergency
	flagHearingRight
)

func (e *event) flag(f uint8) bool { return e.Flags&f != 0 }

// span is a time span of audio-video; nil ends mean the media carry no times.
type span struct {
	From *time.Time `json:"f,omitempty"`
	To   *time.Time `json:"t,omitempty"`
}

// recording is a recording.made: its span and interruptions.
type recording struct {
	Seq  uint64      `json:"s"`
	From time.Time   `json:"f"`
	To   time.Time   `json:"t"`
	Gaps [][2]string `json:"g,omitempty"` // interruptions, RFC 3339
}

func (r recording) covers(t time.Time) bool {
	if t.Before(r.From) || t.After(r.To) {
		return false
	}
	for _, g := range r.Gaps {
		a, err1 := ledger.ParseTimestamp(g[0])
		b, err2 := ledger.ParseTimestamp(g[1])
		if err1 == nil && err2 == nil && !t.Before(a) && t.Before(b) {
			return false
		}
	}
	return true
}

// data is the union of the data fields the rules read.
type data struct {
	Procedure string  `json:"procedure"`
	Category  string  `json:"category"`
	Parties   []party `json:"parties"`

	Outcome   string   `json:"outcome"`
	Result    string   `json:"result"`
	Penalties []string `json:"penalties"`
	FineFen   int64    `json:"fine_fen"`
	Intended  struct {
		Penalties []string `json:"penalties"`
		FineFen   int64    `json:"fine_fen"`
	} `json:"intended"`
	HearingRight  bool    `json:"hearing_right"`
	Major         bool    `json:"major"`
	Complex       bool    `json:"complex"`
	Emergency     bool    `json:"emergency"`
	DocumentNo    string  `json:"document_no"`
	Document      string  `json:"document"`
	Method        string  `json:"method"`
	Reviewer      string  `json:"reviewer"`
	Chair         string  `json:"chair"`
	Deadline      string  `json:"deadline"`
	Until         string  `json:"until"`
	HearingAt     string  `json:"hearing_at"`
	TermDays      int     `json:"term_days"`
	ExtraDays     int     `json:"extra_days"`
	DecisionSeq   *uint64 `json:"decision_seq"`
	AmountFen     int64   `json:"amount_fen"`
	PublishExempt string  `json:"publish_exempt"`
	OffsetMs      int64   `json:"offset_ms"`

	StartedAt     string `json:"started_at"`
	EndedAt       string `json:"ended_at"`
	Interruptions []struct {
		From   string `json:"from"`
		To     string `json:"to"`
		Reason string `json:"reason"`
	} `json:"interruptions"`
	Events []string `json:"events"`
}

// party is a party of case.opened.
type party struct {
	Kind      string `json:"kind"`
	IDNumber  string `json:"id_number"`
	BirthDate string `json:"birth_date"`
	Minor     *bool  `json:"minor"`
	Age       *int   `json:"age"`
}

// minorAt reports whether a natural person was under 18 at t, by the
// minor flag, the age, the birth date or the birth date inside an 18-digit
// resident ID number (as the public feed decides).
func (p *party) minorAt(t time.Time) bool {
	return catalog.MinorAt(p.Kind, p.Minor, p.Age, p.BirthDate, p.IDNumber, t)
}

// needsData lists the types whose data the rules read.
var needsData = map[string]bool{
	"case.opened": true, "evidence.preserved": true, "measure.imposed": true, "measure.extended": true,
	"notice.served": true, "hearing.notified": true, "hearing.held": true, "review.completed": true,
	"decision.made": true, "document.served": true, "decision.published": true, "payment.received": true,
	"payment.deferred": true, "enforcement.executed": true,
	"reconsideration.decided": true, "lawsuit.judged": true, "recording.made": true, "recording.linked": true,
	"device.clock_observed": true, "inquiry.recorded": true, "evidence.collected": true,
	"case.extended": true,
}

func (d *data) recording(seq uint64, loc *time.Location) recording {
	r := recording{Seq: seq}
	r.From, _ = ledger.ParseTimestamp(d.StartedAt)
	r.To, _ = ledger.ParseTimestamp(d.EndedAt)
	r.From, r.To = r.From.In(loc), r.To.In(loc)
	for _, g := range d.Interruptions {
		r.Gaps = append(r.Gaps, [2]string{g.From, g.To})
	}
	return r
}

// investigative lists the acts whose officers are the case's investigators
// (调查人员), who may neither review (Art 58) nor chair a hearing (Art 64).
var investigative = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range investigativeTypes {
		m[t] = true
	}
	return m
}()

// apply adds entry e to the state; times are kept in loc.
func (c *caseState) apply(e *projections.Entry, d *data, loc *time.Location) {
	ev := event{Seq: e.Seq, Type: e.Type, At: e.OccurredAt.In(loc), code: typeCodes[e.Type]}
	if investigative[e.Type] {
		for _, o := range e.Officers {
			if k := cmp.Or(o.ID, o.CertNo); k != "" && !slices.Contains(ev.Offs, k) {
				ev.Offs = append(ev.Offs, k)
			}
		}
	}
	setFlag := func(f uint8, v bool) {
		if v {
			ev.Flags |= f
		}
	}
	switch e.Type {
	case "case.opened":
		c.Proc, c.Cat = d.Procedure, d.Category
		for i := range d.Parties {
			p := &d.Parties[i]
			c.Org = c.Org || p.Kind == catalog.PartyOrg
			c.Minor = c.Minor || p.minorAt(e.OccurredAt)
		}
	case "notice.served":
		ev.Pen, ev.Fen = d.Intended.Penalties, d.Intended.FineFen
		if len(ev.Pen) == 0 && ev.Fen > 0 {
			ev.Pen = []string{catalog.PenaltyFine}
		}
		ev.Method = d.Method // 公告 counts as served later
		setFlag(flagHearingRight, d.HearingRight)
	case "decision.made":
		ev.Outcome, ev.Pen, ev.Fen, ev.Doc, ev.Exempt = d.Outcome, d.Penalties, d.FineFen, d.DocumentNo, d.PublishExempt
		setFlag(flagMajor, d.Major)
		setFlag(flagComplex, d.Complex)
	case "document.served":
		ev.Doc, ev.Method = d.Document, d.Method
	case "decision.published":
		ev.Doc, ev.Ref = d.DocumentNo, d.DecisionSeq
	case "payment.received":
		ev.Fen = d.AmountFen
	case "payment.deferred":
		ev.When = d.Until
	case "hearing.notified":
		ev.When = d.HearingAt
	case "hearing.held":
		ev.Who = d.Chair
	case "review.completed":
		ev.Who, ev.Outcome = d.Reviewer, d.Result
	case "reconsideration.decided", "lawsuit.judged":
		ev.Outcome = d.Result
	case "measure.imposed":
		ev.N = d.TermDays
	case "measure.extended", "case.extended":
		ev.N = d.ExtraDays
	case "recording.made":
		c.addRecording(d.recording(e.Seq, loc))
	}
	switch e.Type {
	case "measure.imposed", "enforcement.executed", "evidence.preserved", "inquiry.recorded", "evidence.collected":
		setFlag(flagEmergency, d.Emergency)
	}
	for _, m := range e.Media {
		if !strings.HasPrefix(m.ContentType, "video/") && !strings.HasPrefix(m.ContentType, "audio/") {
			continue
		}
		var s span
		// Both are optional: an absent one is not parsed (a failed parse
		// builds an error).
		if m.StartedAt != "" {
			if t, err := ledger.ParseTimestamp(m.StartedAt); err == nil {
				t = t.In(loc)
				s.From = &t
			}
		}
		if m.EndedAt != "" {
			if t, err := ledger.ParseTimestamp(m.EndedAt); err == nil {
				t = t.In(loc)
				s.To = &t
			}
		}
		ev.Media = append(ev.Media, s)
	}
	// Keep occurred_at order; entries of equal time stay in ledger order.
	i := len(c.Evs)
	for i > 0 && c.Evs[i-1].At.After(ev.At) {
		i--
	}
	c.Evs = slices.Insert(c.Evs, i, &ev)
}

func (c *caseState) addRecording(r recording) {
	for _, x := range c.Recs {
		if x.Seq == r.Seq {
			return
		}
	}
	c.Recs = append(c.Recs, r)
}
