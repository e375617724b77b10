// Package public is the public disclosure feed (行政处罚信息公示): the
// penalty decisions an agency has publicized, redacted, served without a
// token as GET /v1/public/decisions.
//
// A decision.published entry adds the decision it names to the feed; a
// publication.withdrawn entry removes every publication of its case in the
// same projection step (the same batch), so a withdrawn decision is never
// served after the entry that withdrew it has been applied. Each item
// carries the seq and leaf hash of the decision and of the publication, so
// that anyone can fetch the entries and their inclusion proofs and check
// the disclosure against the ledger.
//
// # Keys
//
//	key                      value
//	pub/c/<case:16>          per-case state: case number, category, parties, facts, decisions, active publications
//	pub/p/<seq:8>            Disclosure, JSON, keyed by the decision.published seq; deleted on withdrawal
//
// Redaction is done when the item is written: what is stored under pub/p/
// is exactly what the public sees.
package public

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// Name is the projection's name.
const Name = "public"

// Version is the projection's version; bump it when Apply or the redaction
// rules change.
const Version = 1

// Config configures the public feed. Changing Agency requires `rebuild
// public`.
type Config struct {
	// Agency is the deciding agency's name, e.g. 晋城市城市管理局.
	Agency string
}

// Projection builds the public disclosure feed.
type Projection struct{ agency string }

// New returns the public feed projection.
func New(cfg Config) *Projection { return &Projection{agency: cfg.Agency} }

// Name implements projections.Projection.
func (*Projection) Name() string { return Name }

// Version implements projections.Projection.
func (*Projection) Version() int { return Version }

// Ref locates an entry: anyone can fetch it and its inclusion proof.
type Ref struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Disclosure is one publicized decision, redacted.
type Disclosure struct {
	Agency         string    `json:"agency"`
	CaseNumber     string    `json:"case_number"`
	Category       string    `json:"category"`
	CategoryName   string    `json:"category_name"`
	Parties        []Party   `json:"parties"`
	Facts          string    `json:"facts"`
	LegalBasis     []string  `json:"legal_basis"`
	Outcome        string    `json:"outcome"`
	Penalties      []string  `json:"penalties"`
	FineFen        int64     `json:"fine_fen"`
	ConfiscatedFen int64     `json:"confiscated_fen,omitempty"`
	DocumentNo     string    `json:"document_no"`
	DecidedAt      time.Time `json:"decided_at"`
	PublishedAt    time.Time `json:"published_at"`
	Channel        string    `json:"channel"`
	Decision       Ref       `json:"decision"`
	Publication    Ref       `json:"publication"`
}

type caseState struct {
	CaseNumber string            `json:"cn,omitempty"`
	Category   string            `json:"cat,omitempty"`
	Parties    []json.RawMessage `json:"parties,omitempty"`
	Facts      string            `json:"facts,omitempty"`
	Decisions  []decision        `json:"dec,omitempty"`
	Active     []uint64          `json:"active,omitempty"` // seqs of publications not withdrawn
}

type decision struct {
	Ref
	DocumentNo     string            `json:"doc"`
	Outcome        string            `json:"outcome"`
	Penalties      []string          `json:"pen"`
	FineFen        int64             `json:"fine"`
	ConfiscatedFen int64             `json:"conf,omitzero"`
	LegalBasis     []json.RawMessage `json:"basis"`
	Facts          string            `json:"facts,omitempty"`
	At             time.Time         `json:"at"`
}

func caseKey(c uuid.UUID) []byte { return append([]byte("pub/c/"), c[:]...) }

func itemKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte("pub/p/"), seq) }

// The case state is encoded with encoding/json/v2, several times faster
// than encoding/json; what the public sees (Disclosure) is not.
func decodeCase(b []byte) (*caseState, error) {
	var c caseState
	if err := jsonv2.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("public: case state: %v", err)
	}
	return &c, nil
}

func encodeCase(c *caseState) ([]byte, error) { return jsonv2.Marshal(c) }

var relevant = map[string]bool{
	"case.registered": true, "case.opened": true, "investigation.concluded": true,
	"decision.made": true, "decision.published": true, "publication.withdrawn": true,
}

// Apply implements projections.Projection.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	if e.CaseID == uuid.Nil || !relevant[e.Type] {
		return nil
	}
	c, err := projections.LoadCase(tx, caseKey(e.CaseID), decodeCase)
	if err != nil {
		return err
	}
	if c == nil {
		c = &caseState{}
	}
	switch e.Type {
	case "case.registered", "investigation.concluded":
		var d struct{ Summary string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if d.Summary != "" {
			c.Facts = d.Summary // the investigation's summary supersedes the registration's
		}
	case "case.opened":
		var d struct {
			CaseNumber string            `json:"case_number"`
			Category   string            `json:"category"`
			Parties    []json.RawMessage `json:"parties"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		c.CaseNumber, c.Category, c.Parties = d.CaseNumber, d.Category, d.Parties
	case "decision.made":
		var d struct {
			Outcome        string            `json:"outcome"`
			Penalties      []string          `json:"penalties"`
			FineFen        int64             `json:"fine_fen"`
			ConfiscatedFen int64             `json:"confiscated_fen"`
			LegalBasis     []json.RawMessage `json:"legal_basis"`
			DocumentNo     string            `json:"document_no"`
			Facts          string            `json:"facts"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		c.Decisions = append(c.Decisions, decision{Ref: Ref{e.Seq, ledger.Hex(e.Hash())}, DocumentNo: d.DocumentNo,
			Outcome: d.Outcome, Penalties: d.Penalties, FineFen: d.FineFen, ConfiscatedFen: d.ConfiscatedFen,
			LegalBasis: d.LegalBasis, Facts: d.Facts, At: e.OccurredAt})
	case "decision.published":
		var d struct {
			DecisionSeq *uint64 `json:"decision_seq"`
			DocumentNo  string  `json:"document_no"`
			Channel     string  `json:"channel"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		dec := c.find(d.DecisionSeq, d.DocumentNo)
		if dec == nil {
			break // nothing we can show; the compliance rules flag it
		}
		item, ok := p.disclose(c, dec, e, d.Channel)
		if !ok {
			break // a minor: never published
		}
		b, _ := json.Marshal(item)
		if err := tx.Put(itemKey(e.Seq), b); err != nil {
			return err
		}
		c.Active = append(c.Active, e.Seq)
	case "publication.withdrawn":
		for _, s := range c.Active {
			if err := tx.Delete(itemKey(s)); err != nil {
				return err
			}
		}
		c.Active = nil
	}
	return projections.Save(tx, caseKey(e.CaseID), c, encodeCase)
}

func (c *caseState) find(seq *uint64, docNo string) *decision {
	for i := range c.Decisions {
		if seq != nil && c.Decisions[i].Seq == *seq || seq == nil && docNo != "" && c.Decisions[i].DocumentNo == docNo {
			return &c.Decisions[i]
		}
	}
	if seq == nil && docNo == "" && len(c.Decisions) > 0 {
		return &c.Decisions[len(c.Decisions)-1]
	}
	return nil
}

var categoryNames = func() map[string]string {
	m := map[string]string{}
	for _, v := range catalog.Categories() {
		m[v.Code] = v.Chinese
	}
	return m
}()

// disclose builds the redacted item; ok is false when a party is a minor.
func (p *Projection) disclose(c *caseState, dec *decision, e *projections.Entry, channel string) (*Disclosure, bool) {
	parties := parseParties(c.Parties)
	var persons, addresses []string
	out := make([]Party, 0, len(parties))
	for i := range parties {
		pt := &parties[i]
		if pt.isMinor(dec.At) {
			return nil, false
		}
		if pt.Kind != catalog.PartyOrg {
			persons = append(persons, pt.Name)
		}
		addresses = append(addresses, pt.Address)
		out = append(out, pt.published())
	}
	facts := dec.Facts
	if facts == "" {
		facts = c.Facts
	}
	pen := dec.Penalties
	if pen == nil {
		pen = []string{}
	}
	return &Disclosure{
		Agency: p.agency, CaseNumber: c.CaseNumber, Category: c.Category, CategoryName: categoryNames[c.Category],
		Parties: out, Facts: RedactText(facts, persons, addresses), LegalBasis: legalBasisText(dec.LegalBasis),
		Outcome: dec.Outcome, Penalties: pen, FineFen: dec.FineFen, ConfiscatedFen: dec.ConfiscatedFen,
		DocumentNo: dec.DocumentNo, DecidedAt: dec.At, PublishedAt: e.OccurredAt, Channel: channel,
		Decision: dec.Ref, Publication: Ref{e.Seq, ledger.Hex(e.Hash())},
	}, true
}
