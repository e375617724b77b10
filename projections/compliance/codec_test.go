package compliance

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/projections"
)

var fuzzID = uuid.MustParse("0193f09e-1111-7000-8000-00000000000a")

func fuzzProjection(tb testing.TB) *Projection {
	p, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func seedState(p *Projection) []byte {
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2020, 5, 12, 10, 0, 0, 0, cst)
	ref := uint64(3)
	c := &caseState{Proc: "general", Cat: "dust", Org: true,
		Evs: []*event{{Seq: 1, Type: "case.opened", At: at}, {Seq: 3, Type: "decision.made", At: at.Add(time.Hour), Pen: []string{"fine"}, Fen: 100000, Doc: "罚字第1号", Flags: flagMajor},
			{Seq: 4, Type: "decision.published", At: at.Add(2 * time.Hour), Ref: &ref, Media: []span{{From: &at}}}, {Seq: 5, Type: "case.extended", At: at, N: 30},
			{Seq: 6, Type: "inspection.recorded", At: at.Add(1500 * time.Nanosecond), Offs: []string{"O-0012", "O-0031"}},
			{Seq: 7, Type: "inquiry.recorded", At: at.Add(3 * time.Hour), Offs: []string{"O-0031", "14050020190044"}}},
		Recs:   []recording{{Seq: 2, From: at, To: at.Add(time.Hour), Gaps: [][2]string{{"a", "b"}}}},
		Static: []pot{{Finding: projections.Finding{Rule: RuleTwoOfficers, Check: "officers", Severity: projections.Violation, Seqs: []uint64{1}}, From: at}},
	}
	f := pot{Finding: projections.Finding{Rule: RuleDecision90d, Check: "warn", Open: true, Seqs: []uint64{1}}, From: at, Until: &at}
	c.Pots = []potRef{{Key: liveKey(&f, fuzzID), Hash: 7, Add: 1, From: at, Until: &at}}
	b, _ := p.encodeState(c)
	return b
}

// FuzzDecodeState: what decodes re-encodes to the same bytes; bad input is
// an error, never a panic.
func FuzzDecodeState(f *testing.F) {
	p := fuzzProjection(f)
	f.Add(seedState(p))
	f.Add([]byte{stateVersion})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := p.decodeState(fuzzID, b)
		if err != nil {
			return
		}
		again, err := p.encodeState(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := p.decodeState(fuzzID, again)
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if again2, _ := p.encodeState(c2); !bytes.Equal(again, again2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", again, again2)
		}
	})
}

// FuzzDecodeStored: the same for a live index entry (key and value).
func FuzzDecodeStored(f *testing.F) {
	p := fuzzProjection(f)
	f0 := seedPot(p)
	f.Add(liveKey(f0, fuzzID), encodeStored(f0, 12))
	f.Add(append(liveKey(f0, fuzzID), '+'), []byte{storedVersion})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		s, err := p.decodeStored(k, v)
		if err != nil {
			return
		}
		again := encodeStored(&s.pot, s.Add)
		s2, err := p.decodeStored(k, again)
		if err != nil || !bytes.Equal(encodeStored(&s2.pot, s2.Add), again) {
			t.Fatalf("re-encoded value differs or fails: %v", err)
		}
	})
}

func seedPot(p *Projection) *pot {
	at := time.Date(2020, 5, 12, 10, 0, 0, 0, p.loc)
	due := at.AddDate(0, 0, 15)
	return &pot{Finding: projections.Finding{Rule: RulePayment15d, Check: "unpaid", Severity: projections.Warning, Open: true,
		Basis: ruleByID[RulePayment15d].Basis, Message: "罚款逾期", CaseID: fuzzID.String(), Seqs: []uint64{3, 9}, Due: &due,
		SurchargeFen: 3000}, From: due, Until: &at, FineFen: 100000}
}

// TestStoredRoundTrip: a finding comes back whole from its live key and
// value, also under a key with the duplicate suffix, and without a case.
func TestStoredRoundTrip(t *testing.T) {
	p := fuzzProjection(t)
	f := seedPot(p)
	caseless := *seedPot(p)
	caseless.CaseID, caseless.Severity, caseless.Open, caseless.Seqs = "", projections.Violation, false, []uint64{7}
	for _, c := range []struct {
		f   *pot
		key []byte
	}{
		{f, liveKey(f, fuzzID)},
		{f, append(liveKey(f, fuzzID), '+', '+')},
		{&caseless, liveKey(&caseless, uuid.Nil)},
	} {
		s, err := p.decodeStored(c.key, encodeStored(c.f, 12))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSONOf(t, s.pot), mustJSONOf(t, *c.f); got != want || s.Add != 12 {
			t.Errorf("decoded %s add %d,\nwant    %s add 12", got, s.Add, want)
		}
	}
	if _, err := p.decodeStored([]byte("cm/x"), encodeStored(f, 12)); err == nil {
		t.Error("decodeStored with a key that is not a live key = nil error")
	}
}

func mustJSONOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStateRoundTrip(t *testing.T) {
	p := fuzzProjection(t)
	b := seedState(p)
	c, err := p.decodeState(fuzzID, b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := p.encodeState(c)
	if !bytes.Equal(b, again) {
		t.Fatalf("state round trip:\n%x\n%x", b, again)
	}
	if c.Evs[2].Ref == nil || *c.Evs[2].Ref != 3 || c.Evs[3].Type != "case.extended" || c.Pots[0].rule != 1<<ruleIndex[RuleDecision90d] || len(c.Static) != 1 ||
		!slices.Equal(c.Evs[5].Offs, []string{"O-0031", "14050020190044"}) || c.Evs[4].At.Sub(c.Evs[0].At) != 1500*time.Nanosecond {
		t.Errorf("decoded state = %+v", c)
	}
	for i := range b {
		if _, err := p.decodeState(fuzzID, b[:i]); err == nil {
			t.Fatalf("decodeState of %d of %d bytes = nil error", i, len(b))
		}
	}
}

// TestPotHash: the fingerprint changes with every field a live index
// value holds, and with nothing else.
func TestPotHash(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	due, actual, until := time.Date(2020, 8, 10, 23, 59, 59, 0, cst), time.Date(2020, 8, 12, 9, 0, 0, 0, cst), time.Date(2020, 9, 1, 0, 0, 0, 0, cst)
	base := func() pot {
		return pot{Finding: projections.Finding{Rule: RuleDecision90d, Check: "missing", Severity: projections.Violation, Open: true,
			Basis: ruleByID[RuleDecision90d].Basis, Message: "立案于2020-05-12，办案期限至2020-08-10", CaseID: "c1", Seqs: []uint64{3, 9},
			Due: &due, Actual: &actual, SurchargeFen: 120}, From: due, Until: &until, FineFen: 5000}
	}
	ref := base()
	h0 := ref.hash()
	if again := base(); again.hash() != h0 {
		t.Fatal("hash of an equal pot differs")
	}
	if b := base(); func() bool { b.Basis = "other"; return b.hash() != h0 }() {
		t.Error("the basis, which is not stored, changes the hash")
	}
	for name, change := range map[string]func(*pot){
		"rule":      func(p *pot) { p.Rule = RuleService7d },
		"check":     func(p *pot) { p.Check = "warn" },
		"severity":  func(p *pot) { p.Severity = projections.Warning },
		"open":      func(p *pot) { p.Open = false },
		"message":   func(p *pot) { p.Message += "。" },
		"case":      func(p *pot) { p.CaseID = "c2" },
		"seqs":      func(p *pot) { p.Seqs = []uint64{3} },
		"seq":       func(p *pot) { p.Seqs = []uint64{3, 10} },
		"due":       func(p *pot) { p.Due = nil },
		"due time":  func(p *pot) { d := due.Add(time.Second); p.Due = &d },
		"due zone":  func(p *pot) { d := due.UTC(); p.Due = &d },
		"actual":    func(p *pot) { p.Actual = nil },
		"surcharge": func(p *pot) { p.SurchargeFen++ },
		"from":      func(p *pot) { p.From = p.From.Add(time.Nanosecond) },
		"until":     func(p *pot) { p.Until = nil },
		"fine":      func(p *pot) { p.FineFen = 0 },
		// Length-prefixed strings: moving bytes between fields is a change.
		"split": func(p *pot) { p.Rule, p.Check = RuleDecision90d+"m", "issing" },
	} {
		p := base()
		change(&p)
		if p.hash() == h0 {
			t.Errorf("changing the %s leaves the hash", name)
		}
	}
}
