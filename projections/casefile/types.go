package casefile

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// applyType applies what is specific to e's type. link brings a recording
// that e links to the case into f.
func (f *File) applyType(e *projections.Entry, link func(id uuid.UUID) error) error {
	t := e.OccurredAt
	switch e.Type {
	case "case.registered":
		var d struct{ Source, Summary string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Source, f.Summary, f.RegisteredAt = d.Source, d.Summary, at(t)
	case "case.opened":
		var d struct {
			CaseNumber  string            `json:"case_number"`
			Procedure   string            `json:"procedure"`
			Category    string            `json:"category"`
			Parties     []json.RawMessage `json:"parties"`
			ApprovedBy  string            `json:"approved_by"`
			ViolationAt string            `json:"violation_at"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.CaseNumber, f.Procedure, f.Category, f.Parties = d.CaseNumber, d.Procedure, d.Category, d.Parties
		f.ApprovedBy, f.ViolationAt, f.OpenedAt = d.ApprovedBy, d.ViolationAt, at(t)
	case "evidence.preserved":
		f.Preservations = append(f.Preservations, Act{Seq: e.Seq, Type: e.Type, OccurredAt: t})
	case "evidence.preservation_resolved":
		var d struct{ Outcome string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		closeOldest(f.Preservations, e, d.Outcome)
	case "measure.imposed":
		var d struct {
			Kind     string `json:"kind"`
			TermDays int    `json:"term_days"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Measures = append(f.Measures, Measure{Seq: e.Seq, Kind: d.Kind, TermDays: d.TermDays, OccurredAt: t})
	case "measure.extended":
		var d struct {
			ExtraDays int `json:"extra_days"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if m := openMeasure(f); m != nil {
			m.ExtraDays += d.ExtraDays
		}
	case "measure.released":
		if m := openMeasure(f); m != nil {
			m.ReleasedAt = at(t)
		}
	case "order.issued", "reminder.served":
		var d struct{ Deadline string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		a := Act{Seq: e.Seq, Type: e.Type, OccurredAt: t, Deadline: d.Deadline}
		if e.Type == "order.issued" {
			f.Orders = append(f.Orders, a)
		} else {
			f.Reminders = append(f.Reminders, a)
		}
	case "notice.served":
		var d struct {
			Intended struct {
				FineFen int64 `json:"fine_fen"`
			} `json:"intended"`
			HearingRight bool `json:"hearing_right"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Notices = append(f.Notices, Notice{Seq: e.Seq, FineFen: d.Intended.FineFen, HearingRight: d.HearingRight, OccurredAt: t})
	case "statement.recorded", "statement.waived", "hearing.requested":
		if n := len(f.Notices); n > 0 {
			f.Notices[n-1].Answered = true
		}
	case "hearing.notified":
		var d struct {
			HearingAt string `json:"hearing_at"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Hearings = append(f.Hearings, Act{Seq: e.Seq, Type: e.Type, OccurredAt: t, Deadline: d.HearingAt})
	case "hearing.held":
		closeOldest(f.Hearings, e, "")
	case "decision.made":
		var d struct {
			Outcome        string            `json:"outcome"`
			Penalties      []string          `json:"penalties"`
			FineFen        int64             `json:"fine_fen"`
			ConfiscatedFen int64             `json:"confiscated_fen"`
			LegalBasis     []json.RawMessage `json:"legal_basis"`
			DocumentNo     string            `json:"document_no"`
			Major          bool              `json:"major"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		dec := Decision{Seq: e.Seq, Hash: ledger.Hex(e.Hash()), DocumentNo: d.DocumentNo, Outcome: d.Outcome,
			Penalties: d.Penalties, FineFen: d.FineFen, ConfiscatedFen: d.ConfiscatedFen, LegalBasis: d.LegalBasis,
			Major: d.Major, OccurredAt: t}
		if dec.Penalties == nil {
			dec.Penalties = []string{}
		}
		if f.Procedure == catalog.ProcedureSimple {
			dec.ServedAt = at(t) // 当场处罚: handed over on the spot (Art 52)
		}
		f.Decisions = append(f.Decisions, dec)
	case "document.served":
		var d struct{ Document string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		if d.Document == catalog.DocumentDecision {
			if n := len(f.Decisions); n > 0 && f.Decisions[n-1].ServedAt == nil || n > 0 && f.Procedure == catalog.ProcedureSimple {
				f.Decisions[n-1].ServedAt = at(t)
			}
		}
	case "decision.published":
		var d struct {
			DecisionSeq *uint64 `json:"decision_seq"`
			DocumentNo  string  `json:"document_no"`
			Channel     string  `json:"channel"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Publications = append(f.Publications, Publication{Seq: e.Seq, DecisionSeq: d.DecisionSeq, DocumentNo: d.DocumentNo, Channel: d.Channel, OccurredAt: t})
		if dec := FindDecision(f.Decisions, d.DecisionSeq, d.DocumentNo); dec != nil && dec.PublishedAt == nil {
			dec.PublishedAt = at(t)
		}
	case "publication.withdrawn":
		for i := range f.Publications {
			if f.Publications[i].WithdrawnAt == nil {
				f.Publications[i].WithdrawnAt = at(t)
			}
		}
	case "payment.received":
		var d struct {
			AmountFen    int64  `json:"amount_fen"`
			SurchargeFen int64  `json:"surcharge_fen"`
			ReceiptNo    string `json:"receipt_no"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Payments = append(f.Payments, Payment{Seq: e.Seq, AmountFen: d.AmountFen, SurchargeFen: d.SurchargeFen, ReceiptNo: d.ReceiptNo, OccurredAt: t})
	case "payment.deferred":
		var d struct{ Until string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		// Kept raw in an Act: a date is read in the agency's zone when viewed.
		f.Enforcement = append(f.Enforcement, Act{Seq: e.Seq, Type: e.Type, OccurredAt: t, Deadline: d.Until})
	case "enforcement.applied":
		f.Enforcement = append(f.Enforcement, Act{Seq: e.Seq, Type: e.Type, OccurredAt: t})
	case "enforcement.ruled":
		var d struct{ Result string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		for i := range f.Enforcement {
			if a := &f.Enforcement[i]; a.Type == "enforcement.applied" && a.ClosedSeq == 0 {
				a.ClosedSeq, a.ClosedAt, a.Result = e.Seq, at(t), d.Result
				break
			}
		}
	case "reconsideration.filed", "lawsuit.filed":
		f.Remedies = append(f.Remedies, Act{Seq: e.Seq, Type: e.Type, OccurredAt: t})
	case "reconsideration.decided", "lawsuit.judged":
		var d struct{ Result string }
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		open := map[string]string{"reconsideration.decided": "reconsideration.filed", "lawsuit.judged": "lawsuit.filed"}[e.Type]
		for i := range f.Remedies {
			if a := &f.Remedies[i]; a.Type == open && a.ClosedSeq == 0 {
				a.ClosedSeq, a.ClosedAt, a.Result = e.Seq, at(t), d.Result
				break
			}
		}
		if e.Type == "reconsideration.decided" && d.Result == catalog.ReconsiderationRevoked {
			for i := len(f.Decisions) - 1; i >= 0; i-- {
				if f.Decisions[i].Outcome == catalog.OutcomePenalty && !f.Decisions[i].Revoked {
					f.Decisions[i].Revoked = true
					break
				}
			}
		}
	case "case.closed":
		f.Status, f.ClosedAt = StatusClosed, at(t)
	case "case.archived":
		var d struct {
			ArchiveNo string `json:"archive_no"`
			Retention string `json:"retention"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		f.Status, f.ArchivedAt, f.ArchiveNo, f.Retention = StatusArchived, at(t), d.ArchiveNo, d.Retention
	case "recording.made":
		r, err := newRecording(e)
		if err != nil {
			return err
		}
		addRecording(f, *r)
	case "recording.linked":
		var d struct {
			Events []string `json:"events"`
		}
		if err := e.DecodeData(&d); err != nil {
			return err
		}
		for _, s := range d.Events {
			id, err := uuid.Parse(s)
			if err != nil {
				return fmt.Errorf("recording.linked: events: %v", err)
			}
			if err := link(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// FindDecision returns the decision a publication refers to: by seq, else by
// document number, else the latest.
func FindDecision(ds []Decision, seq *uint64, docNo string) *Decision {
	for i := range ds {
		if seq != nil && ds[i].Seq == *seq || seq == nil && docNo != "" && ds[i].DocumentNo == docNo {
			return &ds[i]
		}
	}
	if seq == nil && docNo == "" && len(ds) > 0 {
		return &ds[len(ds)-1]
	}
	return nil
}

func closeOldest(acts []Act, e *projections.Entry, result string) {
	for i := range acts {
		if acts[i].ClosedSeq == 0 {
			acts[i].ClosedSeq, acts[i].ClosedAt, acts[i].Result = e.Seq, at(e.OccurredAt), result
			return
		}
	}
}

func openMeasure(f *File) *Measure {
	for i := len(f.Measures) - 1; i >= 0; i-- {
		if f.Measures[i].ReleasedAt == nil {
			return &f.Measures[i]
		}
	}
	return nil
}

func addRecording(f *File, r Recording) {
	for _, x := range f.Recordings {
		if x.ID == r.ID {
			return
		}
	}
	f.Recordings = append(f.Recordings, r)
}

// newRecording returns the recording a recording.made entry records.
func newRecording(e *projections.Entry) (*Recording, error) {
	var d struct {
		StartedAt     string            `json:"started_at"`
		EndedAt       string            `json:"ended_at"`
		Interruptions []json.RawMessage `json:"interruptions"`
	}
	if err := e.DecodeData(&d); err != nil {
		return nil, err
	}
	it := newItem(e, "", 0)
	r := &Recording{ID: e.ID.String(), Seq: e.Seq, Hash: it.Hash, DeviceID: e.DeviceID,
		OccurredAt: it.OccurredAt, RecordedAt: it.RecordedAt, Officers: it.Officers,
		StartedAt: d.StartedAt, EndedAt: d.EndedAt, Interruptions: len(d.Interruptions), Media: e.Media}
	if r.Media == nil {
		r.Media = []projections.Media{}
	}
	if e.CaseID != uuid.Nil {
		r.CaseID = e.CaseID.String()
	}
	return r, nil
}
