package projections

import (
	"encoding/json"
	"net/http"
)

// Problem codes of the projection endpoints. They are stable: clients
// branch on them.
const (
	CodeNotFound     = "not_found"      // no such case, figure or year
	CodeBadParameter = "bad_parameter"  // a query parameter is malformed
	CodeSizeAhead    = "size_ahead"     // ?size= is beyond what the read model has applied
	CodeUnavailable  = "unavailable"    // the read model cannot answer now
	CodeInternal     = "internal_error" // a bug or a storage failure
)

// A Problem is an RFC 9457 problem detail with a stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
	Param  string `json:"param,omitempty"` // the offending query parameter
}

var problemTitles = map[string]string{
	CodeNotFound:     "Not found",
	CodeBadParameter: "Bad parameter",
	CodeSizeAhead:    "Ledger size not yet applied",
	CodeUnavailable:  "Unavailable",
	CodeInternal:     "Internal error",
}

var problemStatus = map[string]int{
	CodeNotFound:     http.StatusNotFound,
	CodeBadParameter: http.StatusBadRequest,
	CodeSizeAhead:    http.StatusConflict,
	CodeUnavailable:  http.StatusServiceUnavailable,
	CodeInternal:     http.StatusInternalServerError,
}

// WriteProblem answers with an application/problem+json body for code.
func WriteProblem(w http.ResponseWriter, code, param, detail string) {
	st, ok := problemStatus[code]
	if !ok {
		st, code = http.StatusInternalServerError, CodeInternal
	}
	p := Problem{Type: "about:blank", Title: problemTitles[code], Status: st, Code: code, Detail: detail, Param: param}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(p)
}

// WriteJSON answers 200 with v as JSON.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
