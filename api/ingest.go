package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/ledger"
)

// Result statuses of POST /v1/events.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusConflict  = "conflict"
	StatusRejected  = "rejected"
)

// Result is the answer for one record of POST /v1/events.
type Result struct {
	Index        int          `json:"index"`        // position of the record in the request, from 0
	ID           string       `json:"id,omitempty"` // the record's id, when it could be read
	Status       string       `json:"status"`       // accepted, duplicate, conflict or rejected
	Seq          *uint64      `json:"seq,omitempty"`
	Hash         string       `json:"hash,omitempty"`     // leaf hash of the entry, hex
	CaseSeq      uint64       `json:"case_seq,omitempty"` // position within its case
	Error        *RecordError `json:"error,omitempty"`
	MissingMedia []string     `json:"missing_media,omitempty"` // referenced media not uploaded yet
}

// RecordError says why one record was not appended.
type RecordError struct {
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

type eventsAnswer struct {
	Results []Result `json:"results"`
}

// bodyPool holds request body buffers of POST /v1/events, up to
// bodyPoolMax bytes each (a batch of a hundred records is about 70 KB).
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const bodyPoolMax = 1 << 20

// postEvents is POST /v1/events. It answers only after every accepted
// record is durable (the ledger's Append contract). A single-object body is
// answered with the status of its one record (200, 403, 409, 413, 422); an
// array or NDJSON body with 200 and one result per record, rejected
// records failing alone.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request, tok *Token) error {
	if r.ContentLength > s.cfg.MaxRequestBytes {
		return tooLargeBody(s.cfg.MaxRequestBytes)
	}
	if err := s.holdBack(r.Context()); err != nil {
		return err
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(int(max(r.ContentLength, 512)) + 1)
	// Nothing keeps the body past the answer: ParseRecord copies each
	// record, and results hold strings.
	defer func() {
		if buf.Cap() <= bodyPoolMax {
			bodyPool.Put(buf)
		}
	}()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLargeBody(s.cfg.MaxRequestBytes)
		}
		return problem(CodeIncompleteBody, "reading the body: "+err.Error())
	}
	raws, format, err := decodeRequest(r.Header.Get("Content-Type"), body, s.cfg.MaxRecords)
	if err != nil {
		return err
	}
	results := make([]Result, len(raws))
	recs := make([]*ledger.Record, 0, len(raws))
	media := make([][]string, 0, len(raws)) // per record in recs, the media it references
	var doc jsonview.Doc
	idx := make([]int, 0, len(raws))
	now := s.cfg.Now()
	opts := catalog.Options{FutureTolerance: s.cfg.FutureTolerance}
	for i, raw := range raws {
		results[i].Index = i
		rec, err := ledger.ParseRecord(raw)
		if err != nil {
			var ie *ledger.InvalidError
			if !errors.As(err, &ie) {
				ie = &ledger.InvalidError{Code: CodeMalformedJSON, Detail: err.Error()}
			}
			results[i].ID = bestEffortID(raw)
			results[i].reject(ie.Code, ie.Field, ie.Detail)
			continue
		}
		results[i].ID = rec.ID.String()
		if tok.Role == RoleDevice && rec.DeviceID != tok.DeviceID || rec.DeviceID == s.cfg.ServerDeviceID {
			results[i].reject(CodeForeignDevice, "device.id",
				"this token may only submit records of device "+strconv.Quote(tok.DeviceID))
			continue
		}
		if rec.Type == custodyType {
			// The custody trail is the server's own testimony of who read
			// what; a client must not be able to add to it.
			results[i].reject(CodeServerOnlyType, "type", custodyType+" entries are written by the server itself")
			continue
		}
		v, err := doc.Parse(rec.Canonical())
		if err != nil { // cannot happen: jsontext wrote it
			results[i].reject(CodeMalformedJSON, "", err.Error())
			continue
		}
		if verr := catalog.Validate(v, now, opts); verr != nil {
			results[i].reject(verr.Code, verr.Field, verr.Detail)
			continue
		}
		recs = append(recs, rec)
		media = append(media, referenced(v))
		idx = append(idx, i)
	}
	if len(recs) > 0 {
		start := now
		res, err := s.l.AppendRecords(r.Context(), recs)
		s.metrics.observeAppend(len(recs), s.cfg.Now().Sub(start))
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i].fill(res[j])
			if res[j].Status == ledger.Accepted || res[j].Status == ledger.Duplicate {
				results[i].MissingMedia = s.media.missing(media[j])
			}
		}
	}
	s.metrics.observeResults(results)
	if format == formatSingle && results[0].Error != nil {
		e := results[0].Error
		return &Problem{Code: e.Code, Field: e.Field, Detail: e.Detail, Results: results}
	}
	return writeJSON(w, http.StatusOK, eventsAnswer{Results: results})
}

// holdBack waits, up to BacklogWait, while the JetStream relay is
// publishing and more than MaxPublishBacklog entries behind (see
// Config.Backlog).
func (s *Server) holdBack(ctx context.Context) error {
	p := s.cfg.Backlog
	if p == nil {
		return nil
	}
	n, publishing, moved := p.Backlog()
	if !publishing || n <= s.cfg.MaxPublishBacklog {
		return nil
	}
	start := time.Now()
	defer func() { s.metrics.held.Observe(time.Since(start).Seconds()) }()
	timer := time.NewTimer(s.cfg.BacklogWait)
	defer timer.Stop()
	for {
		select {
		case <-moved:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		if n, publishing, moved = p.Backlog(); !publishing || n <= s.cfg.MaxPublishBacklog {
			return nil
		}
	}
}

func tooLargeBody(max int64) *Problem {
	return problem(CodeTooLarge, "the request body is over "+strconv.FormatInt(max, 10)+" bytes")
}

func (res *Result) reject(code, field, detail string) {
	res.Status = StatusRejected
	res.Error = &RecordError{Code: code, Field: field, Detail: detail}
}

func (res *Result) fill(lr ledger.Result) {
	seq := lr.Seq
	res.Seq = &seq
	res.Hash = ledger.Hex(lr.Hash)
	res.CaseSeq = lr.CaseSeq
	switch lr.Status {
	case ledger.Accepted:
		res.Status = StatusAccepted
	case ledger.Duplicate:
		res.Status = StatusDuplicate
	case ledger.Conflict:
		res.Status = StatusConflict
		res.CaseSeq = 0
		res.Error = &RecordError{Code: CodeConflict,
			Detail: "id " + res.ID + " is already entry " + strconv.FormatUint(lr.Seq, 10) + " with different content"}
	default:
		res.Seq, res.Hash = nil, ""
		detail := "rejected by the ledger"
		if lr.Err != nil {
			detail = lr.Err.Error()
		}
		res.reject(ledger.CodeInvalidField, "", detail)
	}
}

// bestEffortID reads the id of a record that failed its envelope check,
// so that the device can match the result; "" when it cannot be read.
func bestEffortID(raw []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if len(raw) > ledger.MaxRecordSize || json.Unmarshal(raw, &v) != nil || len(v.ID) > 64 {
		return ""
	}
	return v.ID
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n')) // an error is the client gone; nothing to answer
	return nil
}
