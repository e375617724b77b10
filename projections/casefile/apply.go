package casefile

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
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
func pendingKey(id uuid.UUID) []byte   { return append([]byte("cf/l/"), id[:]...) }

func decodeFile(b []byte) (*File, error) {
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("casefile: %v", err)
	}
	return &f, nil
}

func encodeFile(f *File) ([]byte, error) { return json.Marshal(f) }

// pendingLink is a recording.linked seen before the recording it names.
type pendingLink struct {
	CaseID string `json:"case_id"`
	Seq    uint64 `json:"seq"`
}

// Apply implements projections.Projection.
func (p *Projection) Apply(ctx context.Context, tx *projections.Tx, e *projections.Entry) error {
	if e.Type == "recording.made" {
		if err := p.recordingMade(tx, e); err != nil {
			return err
		}
	}
	if e.CaseID == uuid.Nil {
		return nil
	}
	f, err := projections.Load(tx, caseKey(e.CaseID), decodeFile)
	if err != nil {
		return err
	}
	if f == nil {
		f = &File{CaseID: e.CaseID.String(), Status: StatusOpen, FirstSeq: e.Seq, FirstAt: e.OccurredAt,
			Officers: []OfficerRef{}, Documents: []Document{}, Decisions: []Decision{}, Payments: []Payment{}, Recordings: []Recording{}}
	}
	f.LastSeq = e.Seq
	f.Entries++
	for _, o := range e.Officers {
		addOfficer(f, o)
	}
	if t, ok := types[e.Type]; ok {
		switch t.stage {
		case catalog.StageRecording, catalog.StageCustody, catalog.StageDevice:
		default:
			f.Stage = t.stage
		}
	}
	var docNo struct {
		DocumentNo string `json:"document_no"`
	}
	if err := e.DecodeData(&docNo); err != nil {
		return err
	}
	if docNo.DocumentNo != "" && e.Type != "decision.published" {
		f.Documents = append(f.Documents, Document{DocumentNo: docNo.DocumentNo, Type: e.Type, TypeName: TypeName(e.Type), Seq: e.Seq, OccurredAt: e.OccurredAt})
	}
	if err := p.applyType(tx, f, e); err != nil {
		return err
	}
	if err := tx.Put(itemKey(e.CaseID, e.Seq), mustJSON(newItem(e, docNo.DocumentNo, 0))); err != nil {
		return err
	}
	if err := projections.Save(tx, caseKey(e.CaseID), f, encodeFile); err != nil {
		return err
	}
	return tx.Put(orderKey(f.FirstSeq), mustJSON(summarize(f)))
}

func newItem(e *projections.Entry, docNo string, linked uint64) *Item {
	it := &Item{
		Seq: e.Seq, Hash: ledger.Hex(e.Leaf), Type: e.Type, TypeName: TypeName(e.Type),
		OccurredAt: e.OccurredAt.Format(time.RFC3339Nano), RecordedAt: e.RecordedAt.UTC().Format(ledger.RecordedAtLayout),
		DeviceID: e.DeviceID, Officers: e.Officers, Media: make([]MediaState, len(e.Media)),
		DocumentNo: docNo, LinkedSeq: linked,
	}
	if it.Officers == nil {
		it.Officers = []projections.Officer{}
	}
	for i, m := range e.Media {
		it.Media[i] = MediaState{Media: m}
	}
	return it
}

func addOfficer(f *File, o projections.Officer) {
	for i := range f.Officers {
		r := &f.Officers[i]
		if (o.ID != "" && r.ID == o.ID) || (o.ID == "" && o.CertNo != "" && r.CertNo == o.CertNo) {
			r.Entries++
			return
		}
	}
	f.Officers = append(f.Officers, OfficerRef{ID: o.ID, CertNo: o.CertNo, Name: o.Name, Entries: 1})
}

func summarize(f *File) *Summary {
	s := &Summary{
		CaseID: f.CaseID, CaseNumber: f.CaseNumber, Category: f.Category, Procedure: f.Procedure,
		Stage: f.Stage, Status: f.Status, FirstSeq: f.FirstSeq, LastSeq: f.LastSeq, Entries: f.Entries,
		OpenedAt: f.OpenedAt, FirstAt: f.FirstAt, ClosedAt: f.ClosedAt, Officers: []string{},
	}
	for _, d := range f.Decisions {
		if d.Outcome == catalog.OutcomePenalty && !d.Revoked {
			s.FineFen += d.FineFen
		}
	}
	for _, p := range f.Payments {
		s.PaidFen += p.AmountFen
	}
	for _, o := range f.Officers {
		for _, k := range []string{o.ID, o.CertNo} {
			if k != "" && !slices.Contains(s.Officers, k) {
				s.Officers = append(s.Officers, k)
			}
		}
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are encoded
	}
	return b
}

func at(t time.Time) *time.Time { return &t }
