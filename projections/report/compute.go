package report

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
)

// Report is the annual report (年度行政执法统计) as served in JSON.
type Report struct {
	Year                  int                 `json:"year"`
	Zone                  string              `json:"zone"`
	AsOf                  AsOf                `json:"as_of"`
	Checkpoint            *Checkpoint         `json:"checkpoint,omitempty"`
	CasesOpened           CasesOpened         `json:"cases_opened"`
	Decisions             Decisions           `json:"decisions"`
	FinesDecidedFen       int64               `json:"fines_decided_fen"`
	FinesCollectedFen     int64               `json:"fines_collected_fen"`
	Publications          int64               `json:"publications"`
	PublicationsOnTime    int64               `json:"publications_on_time"`
	LegalReviews          int64               `json:"legal_reviews"`
	CollectiveDiscussions int64               `json:"collective_discussions"`
	Hearings              int64               `json:"hearings"`
	CourtEnforcement      CourtEnforcement    `json:"court_enforcement"`
	Lawsuits              Lawsuits            `json:"lawsuits"`
	Reconsiderations      int64               `json:"reconsiderations"`
	ByCategory            map[string]Category `json:"by_category"`
	Findings              map[string]int64    `json:"findings"`
}

// AsOf is the ledger state a report was computed from: its first Size
// entries, whose Merkle root is Root.
type AsOf struct {
	Size uint64 `json:"size"`
	Root string `json:"root,omitempty"`
}

// Checkpoint is the signed checkpoint covering AsOf: an auditor checks its
// signature and a consistency proof from AsOf.Size to Size.
type Checkpoint struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
	Note string `json:"note"`
}

// CasesOpened counts case.opened by procedure.
type CasesOpened struct {
	General int64 `json:"general"`
	Simple  int64 `json:"simple"`
}

// Decisions counts decision.made by outcome.
type Decisions struct {
	Penalty   int64 `json:"penalty"`
	NoPenalty int64 `json:"no_penalty"`
	Transfer  int64 `json:"transfer"`
}

// CourtEnforcement counts applications to court made in the year and what
// became of them; Pending = applied with no ruling yet.
type CourtEnforcement struct {
	Applied int64 `json:"applied"`
	Granted int64 `json:"granted"`
	Denied  int64 `json:"denied"`
	Pending int64 `json:"pending"`
}

// Lawsuits counts lawsuits filed in the year, those heard, and those where
// the agency's responsible person appeared; AppearanceRate = appeared ÷
// heard (0 when none was heard).
type Lawsuits struct {
	Filed                     int64   `json:"filed"`
	Heard                     int64   `json:"heard"`
	ResponsiblePersonAppeared int64   `json:"responsible_person_appeared"`
	AppearanceRate            float64 `json:"appearance_rate"`
}

// Category is a category's line of by_category.
type Category struct {
	Name             string `json:"name"`
	CasesOpened      int64  `json:"cases_opened"`
	PenaltyDecisions int64  `json:"penalty_decisions"`
	FinesDecidedFen  int64  `json:"fines_decided_fen"`
}

// Log is what the report needs of the ledger to state the root and the
// checkpoint it was computed at. *ledger.Ledger implements it; so does
// liuhen project's reader of the checkpoints stream, which knows the root
// only at the sizes of signed checkpoints: its RootAt returns an error
// wrapping ErrNoRoot for other sizes, and the report then leaves
// as_of.root out (its checkpoint still names the covering checkpoint).
type Log interface {
	RootAt(size uint64) (ledger.Hash, error)
	CheckpointCovering(ctx context.Context, size uint64) (*ledger.Checkpoint, error)
}

// ErrNoRoot is wrapped by a Log's RootAt error for a size whose root it
// cannot state.
var ErrNoRoot = errors.New("report: no root known at this size")

// ErrSizeAhead is returned for a size the read model has not applied yet.
var ErrSizeAhead = errors.New("report: size is beyond the entries applied")

// Compute returns the report for year as of the first size entries, from a
// snapshot that reflects at least size entries.
func Compute(sn *projections.Snapshot, year int, size uint64) (*Report, error) {
	if size > sn.Size {
		return nil, fmt.Errorf("%w: %d > %d", ErrSizeAhead, size, sn.Size)
	}
	t, err := totalsAt(sn, year, size)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Year: year,
		AsOf: AsOf{Size: size},
		CasesOpened: CasesOpened{
			General: t.Get("cases_opened." + catalog.ProcedureGeneral),
			Simple:  t.Get("cases_opened." + catalog.ProcedureSimple),
		},
		Decisions: Decisions{
			Penalty:   t.Get("decisions." + catalog.OutcomePenalty),
			NoPenalty: t.Get("decisions." + catalog.OutcomeNoPenalty),
			Transfer:  t.Get("decisions." + catalog.OutcomeTransfer),
		},
		FinesDecidedFen:       t.Get("fines_decided_fen"),
		FinesCollectedFen:     t.Get("fines_collected_fen"),
		Publications:          t.Get("publications"),
		PublicationsOnTime:    t.Get("publications_on_time"),
		LegalReviews:          t.Get("legal_reviews"),
		CollectiveDiscussions: t.Get("collective_discussions"),
		Hearings:              t.Get("hearings"),
		CourtEnforcement: CourtEnforcement{
			Applied: t.Get("court_enforcement.applied"),
			Granted: t.Get("court_enforcement.granted"),
			Denied:  t.Get("court_enforcement.denied"),
		},
		Lawsuits: Lawsuits{
			Filed:                     t.Get("lawsuits.filed"),
			Heard:                     t.Get("lawsuits.heard"),
			ResponsiblePersonAppeared: t.Get("lawsuits.responsible_person_appeared"),
		},
		Reconsiderations: t.Get("reconsiderations"),
		ByCategory:       map[string]Category{},
		Findings:         map[string]int64{},
	}
	ce := &r.CourtEnforcement
	ce.Pending = ce.Applied - ce.Granted - ce.Denied
	if r.Lawsuits.Heard > 0 {
		r.Lawsuits.AppearanceRate = float64(r.Lawsuits.ResponsiblePersonAppeared) / float64(r.Lawsuits.Heard)
	}
	for _, c := range catalog.Categories() {
		cat := Category{
			Name:             c.Chinese,
			CasesOpened:      t.Get("by_category." + c.Code + ".cases_opened"),
			PenaltyDecisions: t.Get("by_category." + c.Code + ".penalty_decisions"),
			FinesDecidedFen:  t.Get("by_category." + c.Code + ".fines_decided_fen"),
		}
		r.ByCategory[c.Code] = cat
	}
	for i, k := range t.names {
		if rule, ok := strings.CutPrefix(k, "findings."); ok {
			r.Findings[rule] = t.vals[i]
		}
	}
	return r, nil
}

// totalsAt returns the year's totals after the entries < size: the last
// snapshot below size plus the deltas after it.
func totalsAt(sn *projections.Snapshot, year int, size uint64) (*Totals, error) {
	if size == 0 {
		return &Totals{}, nil
	}
	prefix := yearKey("rp/s/", year)
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: snapshotKey(year, size)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		return &Totals{}, it.Error() // the year's first change comes with a snapshot
	}
	t, err := decodeTotals(it.Value())
	if err != nil {
		return nil, err
	}
	from := binary.BigEndian.Uint64(it.Key()[len(prefix):]) + 1
	dt, err := sn.NewIter(&pebble.IterOptions{LowerBound: deltaKey(year, from), UpperBound: deltaKey(year, size)})
	if err != nil {
		return nil, err
	}
	defer dt.Close()
	for ok := dt.First(); ok; ok = dt.Next() {
		d, err := decodeTotals(dt.Value())
		if err != nil {
			return nil, err
		}
		for i, k := range d.names {
			t.add(k, d.vals[i])
		}
	}
	return t, dt.Error()
}

// Item is one contribution to a figure: the entry, its case and its value
// (1 for a count, fen for money).
type Item struct {
	Seq    uint64 `json:"seq"`
	CaseID string `json:"case_id"`
	Value  int64  `json:"value"`
	Ref    uint64 `json:"ref,omitempty"` // the application or lawsuit it belongs to
}

// Drill returns the contributions to figure in year from the entries < size,
// in seq order. The figure court_enforcement.pending is the applications
// with no ruling among those entries.
func Drill(sn *projections.Snapshot, year int, figure string, size uint64) ([]Item, error) {
	if size > sn.Size {
		return nil, fmt.Errorf("%w: %d > %d", ErrSizeAhead, size, sn.Size)
	}
	if figure == "court_enforcement.pending" {
		applied, err := Drill(sn, year, "court_enforcement.applied", size)
		if err != nil {
			return nil, err
		}
		ruled := map[uint64]bool{}
		for _, f := range []string{"court_enforcement.granted", "court_enforcement.denied"} {
			items, err := Drill(sn, year, f, size)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				ruled[it.Ref] = true
			}
		}
		return slices.DeleteFunc(applied, func(it Item) bool { return ruled[it.Seq] }), nil
	}
	prefix := contribPrefix(year, figure)
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: binary.BigEndian.AppendUint64(bytes.Clone(prefix), size)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	items := []Item{}
	for ok := it.First(); ok; ok = it.Next() {
		var c contribution
		if err := json.Unmarshal(it.Value(), &c); err != nil {
			return nil, err
		}
		items = append(items, Item{Seq: binary.BigEndian.Uint64(it.Key()[len(prefix):]), CaseID: c.Case, Value: c.V, Ref: c.Ref})
	}
	return items, it.Error()
}
