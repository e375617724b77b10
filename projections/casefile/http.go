package casefile

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
)

// Handler serves the case-file endpoints from src:
//
//	GET /v1/cases                 the case list, filtered and paged
//	GET /v1/cases/{case_id}       one case file
//
// Errors are application/problem+json with a stable code
// (projections.Code*). The API server mounts it behind its authentication.
func Handler(src projections.Source, cfg Config) http.Handler {
	cfg = cfg.withDefaults()
	h := &handler{src: src, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cases", h.list)
	mux.HandleFunc("GET /v1/cases/{case_id}", h.get)
	return mux
}

type handler struct {
	src projections.Source
	cfg Config
}

// Read returns the view of one case from a snapshot, or nil if the case is
// unknown.
func Read(sn *projections.Snapshot, id uuid.UUID, cfg Config) (*View, error) {
	cfg = cfg.withDefaults()
	f, tl, err := fold(sn, id)
	if err != nil || f == nil {
		return nil, err
	}
	now := cfg.Now()
	v := NewView(f, tl, sn.Size, cfg, now)
	if c := cfg.Compliance; c != nil {
		fs, ds, err := c.Case(sn, id, now)
		if err != nil {
			return nil, err
		}
		v.Findings = append(v.Findings, fs...)
		v.Deadlines = sortDeadlines(append(slices.DeleteFunc(v.Deadlines, func(d Deadline) bool { return c.Owns(d.Rule) }), ds...))
	}
	return v, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("case_id"))
	if err != nil {
		projections.WriteProblem(w, projections.CodeBadParameter, "case_id", "case_id is not a UUID")
		return
	}
	sn, err := h.src.Snapshot()
	if err != nil {
		projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
		return
	}
	defer sn.Close()
	v, err := Read(sn, id, h.cfg)
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	if v == nil {
		projections.WriteProblem(w, projections.CodeNotFound, "case_id", "no case "+id.String())
		return
	}
	projections.WriteJSON(w, v)
}

// Filter selects cases of the list. Zero fields do not filter.
type Filter struct {
	Category  string        // catalog.Category*
	Procedure string        // general / simple
	Stage     catalog.Stage // current stage
	Status    string        // open, closed (closed or archived), archived
	From, To  time.Time     // opened (or first recorded) in [From, To)
	Officer   string        // officer id or 执法证号
}

func (f *Filter) match(s *Summary) bool {
	if f.Category != "" && s.Category != f.Category || f.Procedure != "" && s.Procedure != f.Procedure ||
		f.Stage != "" && s.Stage != f.Stage {
		return false
	}
	switch f.Status {
	case StatusOpen, StatusArchived:
		if s.Status != f.Status {
			return false
		}
	case StatusClosed:
		if s.Status == StatusOpen {
			return false
		}
	}
	t := s.FirstAt
	if s.OpenedAt != nil {
		t = *s.OpenedAt
	}
	if !f.From.IsZero() && t.Before(f.From) || !f.To.IsZero() && !t.Before(f.To) {
		return false
	}
	return f.Officer == "" || slices.Contains(s.Officers, f.Officer)
}

// Page is one page of the case list, newest case first.
type Page struct {
	Cases []Summary `json:"cases"`
	Next  string    `json:"next,omitempty"` // cursor of the next page
	AsOf  AsOf      `json:"as_of"`
}

// List returns up to limit cases matching f, newest first, starting below
// cursor (from a previous Page.Next; "" for the first page).
func List(sn *projections.Snapshot, f Filter, limit int, cursor string) (*Page, error) {
	upper := []byte("cf/o0") // just past cf/o/
	if cursor != "" {
		seq, err := decodeCursor(cursor)
		if err != nil {
			return nil, err
		}
		upper = orderKey(seq)
	}
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: []byte("cf/o/"), UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	p := &Page{Cases: []Summary{}, AsOf: AsOf{Size: sn.Size}}
	for ok := it.Last(); ok; ok = it.Prev() {
		l, err := decodeLine(it.Value())
		if err != nil {
			return nil, err
		}
		if !f.match(&l.Summary) {
			continue
		}
		if len(p.Cases) == limit {
			p.Next = encodeCursor(p.Cases[limit-1].FirstSeq)
			break
		}
		p.Cases = append(p.Cases, l.Summary)
	}
	return p, it.Error()
}

func encodeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, seq))
}

var errCursor = &paramError{"cursor", "cursor is malformed"}

func decodeCursor(s string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, errCursor
	}
	return binary.BigEndian.Uint64(b), nil
}

type paramError struct{ param, detail string }

func (e *paramError) Error() string { return e.detail }

var stages = func() map[catalog.Stage]bool {
	m := map[catalog.Stage]bool{}
	for _, t := range catalog.Types() {
		m[t.Stage] = true
	}
	return m
}()

func (h *handler) parseFilter(r *http.Request) (Filter, int, string, error) {
	q := r.URL.Query()
	f := Filter{Category: q.Get("category"), Procedure: q.Get("procedure"), Stage: catalog.Stage(q.Get("stage")),
		Status: q.Get("status"), Officer: q.Get("officer")}
	if f.Category != "" && !slices.ContainsFunc(catalog.Categories(), func(v catalog.Value) bool { return v.Code == f.Category }) {
		return f, 0, "", &paramError{"category", "unknown category"}
	}
	if f.Procedure != "" && f.Procedure != catalog.ProcedureGeneral && f.Procedure != catalog.ProcedureSimple {
		return f, 0, "", &paramError{"procedure", "procedure is general or simple"}
	}
	if f.Stage != "" && !stages[f.Stage] {
		return f, 0, "", &paramError{"stage", "unknown stage"}
	}
	if f.Status != "" && f.Status != StatusOpen && f.Status != StatusClosed && f.Status != StatusArchived {
		return f, 0, "", &paramError{"status", "status is open, closed or archived"}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
		next bool
	}{{"from", &f.From, false}, {"to", &f.To, true}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		d, err := time.ParseInLocation(time.DateOnly, s, h.cfg.Location)
		if err != nil {
			return f, 0, "", &paramError{p.name, p.name + " is a date YYYY-MM-DD"}
		}
		if p.next {
			d = d.AddDate(0, 0, 1) // to is inclusive
		}
		*p.dst = d
	}
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return f, 0, "", &paramError{"limit", "limit is 1 to 500"}
		}
		limit = n
	}
	cursor := q.Get("cursor")
	if cursor != "" {
		if _, err := decodeCursor(cursor); err != nil {
			return f, 0, "", err
		}
	}
	return f, limit, cursor, nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	f, limit, cursor, err := h.parseFilter(r)
	if err != nil {
		pe := err.(*paramError)
		projections.WriteProblem(w, projections.CodeBadParameter, pe.param, pe.detail)
		return
	}
	sn, err := h.src.Snapshot()
	if err != nil {
		projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
		return
	}
	defer sn.Close()
	p, err := List(sn, f, limit, cursor)
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	p.AsOf.Time = h.cfg.Now()
	projections.WriteJSON(w, p)
}
