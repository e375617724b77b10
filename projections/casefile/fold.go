package casefile

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// fold reads case id's entries from sn and folds them into its File and
// timeline; it returns a nil File for a case sn does not know.
//
// A recording.linked entry brings in the recordings it names that sn holds
// (cf/r/). One made after the link joins the File where its own entry falls
// in the case's order, as it does when the recording arrives after the
// link; one not in sn yet is left out until it is.
func fold(sn *projections.Snapshot, id uuid.UUID) (*File, []Item, error) {
	prefix := append([]byte("cf/t/"), id[:]...)
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: projections.PrefixEnd(prefix)})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var (
		f     *File
		tl    []Item
		later []pendingLink // links to recordings made after them, by recording seq
	)
	// addLinked brings recording r, linked by the entry at linkSeq, into f.
	addLinked := func(r *Recording, linkSeq uint64) {
		for _, x := range f.Recordings {
			if x.ID == r.ID {
				return
			}
		}
		linked := *r
		linked.LinkedSeq = linkSeq
		f.Recordings = append(f.Recordings, linked)
		item := Item{Seq: r.Seq, Hash: r.Hash, Type: "recording.made", TypeName: TypeName("recording.made"),
			OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, DeviceID: r.DeviceID, Officers: r.Officers,
			Media: make([]MediaState, len(r.Media)), LinkedSeq: linkSeq}
		for i, m := range r.Media {
			item.Media[i] = MediaState{Media: m}
		}
		tl = append(tl, item)
	}
	// catchUp adds the recordings made before seq whose links came earlier.
	catchUp := func(seq uint64) {
		for len(later) > 0 && later[0].r.Seq < seq {
			addLinked(later[0].r, later[0].linkSeq)
			later = later[1:]
		}
	}
	for ok := it.First(); ok; ok = it.Next() {
		e, err := decodeStored(it.Value())
		if err != nil {
			return nil, nil, err
		}
		catchUp(e.Seq)
		if f == nil {
			f = &File{CaseID: id.String(), Status: StatusOpen, FirstSeq: e.Seq, FirstAt: e.OccurredAt,
				Officers: []OfficerRef{}, Documents: []Document{}, Decisions: []Decision{}, Payments: []Payment{}, Recordings: []Recording{}}
		}
		link := func(rid uuid.UUID) error {
			r, err := storedRecording(sn, rid)
			if err != nil || r == nil || r.CaseID == f.CaseID {
				return err // not recorded yet, or in the case's own chain
			}
			if r.Seq < e.Seq {
				addLinked(r, e.Seq)
				return nil
			}
			i, _ := slices.BinarySearchFunc(later, r.Seq, func(p pendingLink, seq uint64) int { return cmp.Compare(p.r.Seq, seq) })
			for i < len(later) && later[i].r.Seq == r.Seq {
				i++ // after earlier links to the same recording
			}
			later = slices.Insert(later, i, pendingLink{r, e.Seq})
			return nil
		}
		docNo, err := f.apply(e, link)
		if err != nil {
			return nil, nil, fmt.Errorf("casefile: case %s entry %d: %w", id, e.Seq, err)
		}
		tl = append(tl, *newItem(e, docNo, 0))
	}
	if err := it.Error(); err != nil {
		return nil, nil, err
	}
	if f == nil {
		return nil, nil, nil
	}
	catchUp(sn.Size)
	slices.SortStableFunc(tl, func(a, b Item) int { return cmp.Compare(a.Seq, b.Seq) })
	return f, tl, nil
}

// pendingLink is a recording.linked at linkSeq naming recording r, which
// was made after it.
type pendingLink struct {
	r       *Recording
	linkSeq uint64
}

// apply folds one entry of the case into f and returns its document_no.
func (f *File) apply(e *projections.Entry, link func(id uuid.UUID) error) (string, error) {
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
		return "", err
	}
	if docNo.DocumentNo != "" && e.Type != "decision.published" {
		f.Documents = append(f.Documents, Document{DocumentNo: docNo.DocumentNo, Type: e.Type, TypeName: TypeName(e.Type), Seq: e.Seq, OccurredAt: e.OccurredAt})
	}
	return docNo.DocumentNo, f.applyType(e, link)
}

// decodeStored reads an entry stored by Apply. Its bytes were verified on
// the way in; the Entry keeps no reference to b.
func decodeStored(b []byte) (*projections.Entry, error) {
	b = append([]byte(nil), b...)
	le, err := ledger.ScanEntry(b)
	if err != nil {
		return nil, fmt.Errorf("casefile: stored entry: %v", err)
	}
	return projections.Decode(le)
}

// storedRecording returns recording id as of sn, or nil.
func storedRecording(sn *projections.Snapshot, id uuid.UUID) (*Recording, error) {
	b, err := sn.Get(recordingKey(id))
	if err != nil || b == nil {
		return nil, err
	}
	e, err := decodeStored(b)
	if err != nil {
		return nil, err
	}
	return newRecording(e)
}

func newItem(e *projections.Entry, docNo string, linked uint64) *Item {
	it := &Item{
		Seq: e.Seq, Hash: ledger.Hex(e.Hash()), Type: e.Type, TypeName: TypeName(e.Type),
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
