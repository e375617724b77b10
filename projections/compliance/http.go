package compliance

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
)

// Handler serves the compliance endpoints of p from src (the store p is
// registered in):
//
//	GET /v1/cases/{case_id}/findings                              one case's findings and rule deadlines
//	GET /v1/findings?rule=&open=&severity=&limit=&cursor=         findings across cases
//	GET /v1/findings/rules                                        the rules and the parameters in effect
//
// Findings are judged at Config.Now. Errors are application/problem+json
// with a stable code (projections.Code*). The API server mounts it behind
// its authentication, with these exact patterns: GET /v1/cases/{case_id}
// belongs to the case-file handler.
func Handler(src projections.Source, p *Projection) http.Handler {
	h := &handler{src: src, p: p}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cases/{case_id}/findings", h.caseFindings)
	mux.HandleFunc("GET /v1/findings", h.list)
	mux.HandleFunc("GET /v1/findings/rules", h.rules)
	return mux
}

type handler struct {
	src projections.Source
	p   *Projection
}

// CaseFindings is the answer of GET /v1/cases/{case_id}/findings.
type CaseFindings struct {
	CaseID    string                `json:"case_id"`
	Findings  []projections.Finding `json:"findings"`
	Deadlines []casefile.Deadline   `json:"deadlines"` // open deadlines of the rules, passed or not
	AsOf      casefile.AsOf         `json:"as_of"`
}

func (h *handler) caseFindings(w http.ResponseWriter, r *http.Request) {
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
	known, err := Known(sn, id)
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	if !known {
		projections.WriteProblem(w, projections.CodeNotFound, "case_id", "no case "+id.String())
		return
	}
	now := h.p.now()
	fs, ds, err := h.p.Case(sn, id, now)
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	projections.WriteJSON(w, &CaseFindings{CaseID: id.String(), Findings: fs, Deadlines: ds, AsOf: casefile.AsOf{Size: sn.Size, Time: now}})
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Rule: q.Get("rule"), Severity: q.Get("severity")}
	if _, ok := ruleByID[f.Rule]; f.Rule != "" && !ok {
		projections.WriteProblem(w, projections.CodeBadParameter, "rule", "unknown rule id; see /v1/findings/rules")
		return
	}
	switch s := q.Get("open"); s {
	case "":
	case "true", "false":
		open := s == "true"
		f.Open = &open
	default:
		projections.WriteProblem(w, projections.CodeBadParameter, "open", "open is true or false")
		return
	}
	if f.Severity != "" && f.Severity != projections.Violation && f.Severity != projections.Warning {
		projections.WriteProblem(w, projections.CodeBadParameter, "severity", "severity is violation or warning")
		return
	}
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			projections.WriteProblem(w, projections.CodeBadParameter, "limit", "limit is 1 to 500")
			return
		}
		limit = n
	}
	sn, err := h.src.Snapshot()
	if err != nil {
		projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
		return
	}
	defer sn.Close()
	page, err := h.p.List(sn, f, h.p.now(), limit, q.Get("cursor"))
	if errors.Is(err, ErrCursor) {
		projections.WriteProblem(w, projections.CodeBadParameter, "cursor", "cursor is malformed")
		return
	}
	if err != nil {
		projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
		return
	}
	projections.WriteJSON(w, page)
}

// RuleSet is the answer of GET /v1/findings/rules.
type RuleSet struct {
	Rules    []Rule `json:"rules"`
	Params   Params `json:"params"`             // in effect, defaults filled in
	Calendar []int  `json:"calendar_years"`     // years the holiday calendar covers
	Version  int    `json:"projection_version"` // changes with the parameters and the calendar
}

func (h *handler) rules(w http.ResponseWriter, r *http.Request) {
	projections.WriteJSON(w, &RuleSet{Rules: Rules(), Params: h.p.params, Calendar: h.p.cal.Years(), Version: h.p.version})
}
