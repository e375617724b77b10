package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
)

// Stable error codes. Every error response is application/problem+json
// (RFC 9457) with one of these in its "code" member, and every rejected
// record of POST /v1/events carries one in its result. Codes are never
// renamed; the ledger's and the catalogue's codes are passed through
// verbatim.
const (
	CodeMalformedJSON    = ledger.CodeMalformedJSON // 400: the body (or one record) is not JSON
	CodeIncompleteBody   = "incomplete_body"        // 400: the body could not be read to its end (cut, or too slow)
	CodeTooLarge         = ledger.CodeTooLarge      // 413: body over 8 MiB, over 1000 records, or a record over 64 KiB
	CodeUnsupportedMedia = "unsupported_media_type" // 415: Content-Type not accepted here
	CodeUnauthenticated  = "unauthenticated"        // 401: no token, or an unknown or revoked one
	CodeForbidden        = "forbidden"              // 403: the token's role may not call this endpoint
	CodeForeignDevice    = "foreign_device"         // 403: a device token submitted another device's record
	CodeServerOnlyType   = "server_only_type"       // 403: a record of a type only the server writes (custody.accessed)
	CodeConflict         = "conflict"               // 409: the record id is taken by different content
	CodeNotFound         = "not_found"              // 404
	CodeMethodNotAllowed = "method_not_allowed"     // 405
	CodeBadParameter     = "invalid_parameter"      // 400: a query or path parameter is malformed or out of range
	CodePurposeRequired  = "purpose_required"       // 400: a media read without a Liuhen-Purpose header
	CodeHashMismatch     = "hash_mismatch"          // 422: uploaded bytes do not hash to the URL's sha256
	CodeSizeMismatch     = "size_mismatch"          // 409: Upload-Length differs from the upload in progress
	CodeOffsetMismatch   = "offset_mismatch"        // 409: Upload-Offset differs from the bytes the server holds
	CodeUploadBusy       = "upload_in_progress"     // 409: another request is writing this upload
	CodeMissingLength    = "upload_length_required" // 400: the first PATCH must carry Upload-Length
	CodeUnsupportedTus   = "tus_version"            // 412: Tus-Resumable is not 1.0.0
	CodeUnavailable      = "unavailable"            // 503: the ledger is stopped, closing, or the request timed out
	CodeInternal         = "internal"               // 500
	CodeCorrupt          = "corrupt"                // 500: GET /v1/verify found the ledger broken, or the server's own evidence bundle did not verify
)

// codeStatus is the one place that says which HTTP status a code carries.
// Codes from the ledger's envelope check and the catalogue that are not
// listed are 422.
var codeStatus = map[string]int{
	CodeMalformedJSON:    http.StatusBadRequest,
	CodeIncompleteBody:   http.StatusBadRequest,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodeUnauthenticated:  http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeForeignDevice:    http.StatusForbidden,
	CodeServerOnlyType:   http.StatusForbidden,
	CodeConflict:         http.StatusConflict,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeBadParameter:     http.StatusBadRequest,
	CodePurposeRequired:  http.StatusBadRequest,
	CodeHashMismatch:     http.StatusUnprocessableEntity,
	CodeSizeMismatch:     http.StatusConflict,
	CodeOffsetMismatch:   http.StatusConflict,
	CodeUploadBusy:       http.StatusConflict,
	CodeMissingLength:    http.StatusBadRequest,
	CodeUnsupportedTus:   http.StatusPreconditionFailed,
	CodeUnavailable:      http.StatusServiceUnavailable,
	CodeInternal:         http.StatusInternalServerError,
	CodeCorrupt:          http.StatusInternalServerError,

	ledger.CodeNotObject:         http.StatusUnprocessableEntity,
	ledger.CodeMissingField:      http.StatusUnprocessableEntity,
	ledger.CodeInvalidField:      http.StatusUnprocessableEntity,
	ledger.CodeReservedField:     http.StatusUnprocessableEntity,
	catalog.CodeUnknownType:      http.StatusUnprocessableEntity,
	catalog.CodeCaseIDRequired:   http.StatusUnprocessableEntity,
	catalog.CodeMoneyNotFen:      http.StatusUnprocessableEntity,
	catalog.CodeOccurredInFuture: http.StatusUnprocessableEntity,
}

// StatusOf returns the HTTP status of a code: 422 for a code not listed
// (a record the catalogue rejected).
func StatusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusUnprocessableEntity
}

// A Problem is an error answered as application/problem+json. Handlers
// return it (or any error, mapped by problemOf) and the server writes it.
type Problem struct {
	Code    string
	Detail  string
	Field   string   // the offending field or parameter, when there is one
	Results []Result // POST /v1/events with a single record: its result
	Header  http.Header
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

func problem(code, detail string) *Problem { return &Problem{Code: code, Detail: detail} }

func badParam(name, detail string) *Problem {
	return &Problem{Code: CodeBadParameter, Field: name, Detail: detail}
}

// problemOf maps any error a handler returns to the problem answered.
func problemOf(err error) *Problem {
	var p *Problem
	var fe *ledger.FatalError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &mbe):
		return problem(CodeTooLarge, "the request body is over "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ErrTokenNotFound):
		return problem(CodeNotFound, err.Error())
	case errors.As(err, &fe), errors.Is(err, ledger.ErrClosed):
		return problem(CodeUnavailable, "the ledger is not accepting requests: "+err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return problem(CodeUnavailable, "the request did not complete in time")
	}
	return problem(CodeInternal, "internal error")
}

// problemBody is the JSON of a problem (RFC 9457 members plus ours).
type problemBody struct {
	Type    string   `json:"type"`
	Title   string   `json:"title"`
	Status  int      `json:"status"`
	Code    string   `json:"code"`
	Detail  string   `json:"detail,omitempty"`
	Field   string   `json:"field,omitempty"`
	Results []Result `json:"results,omitempty"`
}

// WriteProblem answers with an application/problem+json error carrying one
// of the stable codes. Handlers mounted with Server.Mount use it so that
// every error of the API looks the same.
func WriteProblem(w http.ResponseWriter, code, detail string) {
	writeProblem(w, &Problem{Code: code, Detail: detail})
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	for k, v := range p.Header {
		w.Header()[k] = v
	}
	status := StatusOf(p.Code)
	b, _ := json.Marshal(problemBody{
		Type:    "urn:liuhen:problem:" + p.Code,
		Title:   http.StatusText(status),
		Status:  status,
		Code:    p.Code,
		Detail:  p.Detail,
		Field:   p.Field,
		Results: p.Results,
	})
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Del("Content-Encoding")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="liuhen"`)
	}
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
