package casefile

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Projection builds case files. It implements projections.Projection.
type Projection struct{}

// New returns the case-file projection. It has no configuration: what
// depends on the agency (time zone, calendar, media store, rules) is applied
// when a case file is read (see Config).
func New() *Projection { return &Projection{} }

// Name implements projections.Projection.
func (*Projection) Name() string { return Name }

// Version implements projections.Projection.
func (*Projection) Version() int { return Version }

type typeInfo struct {
	chinese string
	stage   catalog.Stage
}

// types caches the catalogue: Lookup copies a Type on every call.
var types = func() map[string]typeInfo {
	m := map[string]typeInfo{}
	for _, t := range catalog.Types() {
		m[t.Name] = typeInfo{t.Chinese, t.Stage}
	}
	return m
}()

// TypeName returns the Chinese name of a record type, or the type itself.
func TypeName(typ string) string {
	if t, ok := types[typ]; ok {
		return t.chinese
	}
	return typ
}

// Keys.

func caseKey(c uuid.UUID) []byte { return append([]byte("cf/c/"), c[:]...) }

func itemKey(c uuid.UUID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte("cf/t/"), c[:]...), seq)
}

func orderKey(firstSeq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("cf/o/"), firstSeq)
}

func recordingKey(id uuid.UUID) []byte { return append([]byte("cf/r/"), id[:]...) }

// line is what Apply keeps of a case: its line in the case list and what
// the line is computed from, stored under cf/o/ in the line encoding
// (line.go).
type line struct {
	Summary
	Refs  []officerKey // officers in order of appearance, as File.Officers
	Fines []fine       // penalty decisions, in order
}

type officerKey struct{ ID, CertNo string }

type fine struct {
	Fen     int64
	Revoked bool
}

// Apply implements projections.Projection: it stores the entry in its case
// (and a recording under its id, for the cases that link it later) and
// updates the case's list line.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	if e.Type == "recording.made" {
		if err := tx.Put(recordingKey(e.ID), e.Bytes); err != nil {
			return err
		}
	}
	if e.CaseID == uuid.Nil {
		return nil
	}
	if err := tx.Put(itemKey(e.CaseID, e.Seq), e.Bytes); err != nil {
		return err
	}
	l, err := p.loadLine(tx, e)
	if err != nil {
		return err
	}
	if err := l.apply(e); err != nil {
		return err
	}
	return projections.Save(tx, orderKey(l.FirstSeq), l, encodeLine)
}

// loadLine returns the case's line, a new one if e is its first entry.
func (p *Projection) loadLine(tx *projections.Tx, e *projections.Entry) (*line, error) {
	ck := caseKey(e.CaseID)
	var first []byte
	if e.CaseSeq > 1 { // the case's first entry finds nothing stored
		var err error
		if first, err = tx.Get(ck); err != nil {
			return nil, err
		}
	}
	if first == nil {
		if err := tx.Set(ck, binary.BigEndian.AppendUint64(nil, e.Seq)); err != nil {
			return nil, err
		}
		return &line{Summary: Summary{CaseID: e.CaseID.String(), Status: StatusOpen, FirstSeq: e.Seq, FirstAt: e.OccurredAt, Officers: []string{}}}, nil
	}
	if len(first) != 8 {
		return nil, fmt.Errorf("casefile: %x holds %d bytes", ck, len(first))
	}
	l, err := projections.Load(tx, orderKey(binary.BigEndian.Uint64(first)), decodeLine)
	if err == nil && l == nil {
		err = fmt.Errorf("casefile: case %s has no list line", e.CaseID)
	}
	return l, err
}

// apply updates the line as the fold (File.apply) updates the File, for
// what the list shows.
func (l *line) apply(e *projections.Entry) error {
	l.LastSeq = e.Seq
	l.Entries++
	for _, o := range e.Officers {
		l.addOfficer(o)
	}
	if t, ok := types[e.Type]; ok {
		switch t.stage {
		case catalog.StageRecording, catalog.StageCustody, catalog.StageDevice:
		default:
			l.Stage = t.stage
		}
	}
	switch e.Type {
	case "case.opened":
		var d struct {
			CaseNumber string `json:"case_number"`
			Procedure  string `json:"procedure"`
			Category   string `json:"category"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		l.CaseNumber, l.Procedure, l.Category, l.OpenedAt = d.CaseNumber, d.Procedure, d.Category, at(e.OccurredAt)
	case "decision.made":
		var d struct {
			Outcome string `json:"outcome"`
			FineFen int64  `json:"fine_fen"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if d.Outcome == catalog.OutcomePenalty {
			l.Fines = append(l.Fines, fine{Fen: d.FineFen})
			l.FineFen += d.FineFen
		}
	case "reconsideration.decided":
		var d struct {
			Result string `json:"result"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if d.Result == catalog.ReconsiderationRevoked {
			for i := len(l.Fines) - 1; i >= 0; i-- {
				if !l.Fines[i].Revoked {
					l.Fines[i].Revoked = true
					l.FineFen -= l.Fines[i].Fen
					break
				}
			}
		}
	case "payment.received":
		var d struct {
			AmountFen int64 `json:"amount_fen"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		l.PaidFen += d.AmountFen
	case "case.closed":
		l.Status, l.ClosedAt = StatusClosed, at(e.OccurredAt)
	case "case.archived":
		l.Status = StatusArchived
	}
	return nil
}

// addOfficer adds o as addOfficer adds it to File.Officers, and keeps
// Summary.Officers (ids and cert_nos, in that order, once each) in step.
func (l *line) addOfficer(o projections.Officer) {
	for _, r := range l.Refs {
		if (o.ID != "" && r.ID == o.ID) || (o.ID == "" && o.CertNo != "" && r.CertNo == o.CertNo) {
			return
		}
	}
	l.Refs = append(l.Refs, officerKey{ID: o.ID, CertNo: o.CertNo})
	for _, k := range []string{o.ID, o.CertNo} {
		if k != "" && !slices.Contains(l.Officers, k) {
			l.Officers = append(l.Officers, k)
		}
	}
}

func at(t time.Time) *time.Time { return &t }
