package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/ledger"
)

// maxExportMedia bounds the media files one export lists, so that its
// custody record stays under the 64 KiB record limit.
const maxExportMedia = 800

type exportRequest struct {
	Purpose string `json:"purpose"`
	CaseID  string `json:"case_id"`
	All     bool   `json:"all"`
	Media   bool   `json:"media"`
}

type exportAnswer struct {
	Seq           uint64   `json:"seq"` // the custody.accessed entry
	ID            string   `json:"id"`
	Hash          string   `json:"hash"`
	Scope         string   `json:"scope"`
	Size          uint64   `json:"size"`              // the log's size the export is cut at
	Entries       []uint64 `json:"entries,omitempty"` // case exports: the seqs, in order
	Count         uint64   `json:"count"`
	EntriesSHA256 string   `json:"entries_sha256"`
	Media         []string `json:"media"` // media files the export includes
}

// postExport is POST /v1/exports: before an auditor packs an evidence
// bundle (liuhen export), the server records the export as a
// custody.accessed entry, the way it records every media read, and says
// what the bundle holds. For a case: its entries and the recordings linked
// to it, up to the current size; for "all": entries [0, size). The record
// carries who (the token), why (purpose), the size, and the SHA-256 of the
// exported entries as one file (each entry's bytes and a newline) followed
// by the SHA-256 of each media file included, so that a bundle is bound to
// its custody record (docs/bundle.md). The answer comes after the record
// is durable.
func (s *Server) postExport(w http.ResponseWriter, r *http.Request, tok *Token) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return err
	}
	var req exportRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return problem(CodeMalformedJSON, err.Error())
	}
	if req.Purpose == "" || !utf8.ValidString(req.Purpose) || len(req.Purpose) > 1000 {
		return &Problem{Code: CodeBadParameter, Field: "purpose", Detail: "an export needs a purpose (UTF-8, at most 1000 bytes) saying why"}
	}
	var caseID uuid.UUID
	if req.All == (req.CaseID != "") {
		return &Problem{Code: CodeBadParameter, Field: "case_id", Detail: "export either one case (case_id) or the whole log (all: true)"}
	}
	if !req.All {
		if caseID, err = uuid.Parse(req.CaseID); err != nil {
			return &Problem{Code: CodeBadParameter, Field: "case_id", Detail: "case_id must be a UUID"}
		}
	}
	size := s.l.Head().Size
	ans := exportAnswer{Scope: "all", Size: size, Media: []string{}}
	h := sha256.New()
	media := map[string]bool{}
	take := func(b []byte) {
		h.Write(b)
		h.Write([]byte{'\n'})
		if req.Media {
			for _, m := range mediaOf(b) {
				if _, ok := s.media.stat(m); ok {
					media[m] = true
				}
			}
		}
	}
	if req.All {
		next := uint64(0)
		for seq, b := range s.l.Entries(0) {
			if seq >= size {
				break
			}
			if seq != next {
				return ledger.ErrCorrupt
			}
			take(b)
			next++
		}
		ans.Count = next
	} else {
		if ans.Entries, err = s.caseSelection(caseID, size); err != nil {
			return err
		}
		for _, seq := range ans.Entries {
			b, err := s.l.EntryAt(seq)
			if err != nil {
				return err
			}
			take(b)
		}
		ans.Scope, ans.Count = "case", uint64(len(ans.Entries))
	}
	if len(media) > maxExportMedia {
		return problem(CodeTooLarge, "an export includes at most "+strconv.Itoa(maxExportMedia)+" media files; export without media and read them separately")
	}
	ans.EntriesSHA256 = hex.EncodeToString(h.Sum(nil))
	ans.Media = slices.Sorted(func(yield func(string) bool) {
		for m := range media {
			if !yield(m) {
				return
			}
		}
	})
	if ans.Media == nil {
		ans.Media = []string{}
	}
	data := map[string]any{
		"actor":          tok.Name,
		"token_id":       tok.ID,
		"role":           tok.Role.String(),
		"access":         "export",
		"purpose":        req.Purpose,
		"scope":          ans.Scope,
		"size":           size,
		"entries":        ans.Count,
		"entries_sha256": ans.EntriesSHA256,
		"media":          append([]string{ans.EntriesSHA256}, ans.Media...),
	}
	if !req.All {
		data["case_id"] = caseID.String()
	}
	res, id, err := s.appendServerRecord(r, data)
	if err != nil {
		return err
	}
	ans.Seq, ans.ID, ans.Hash = res.Seq, id, ledger.Hex(res.Hash)
	return writeJSON(w, http.StatusCreated, ans)
}

// caseSelection returns the seqs a case export holds: the case's entries
// and the recordings its recording.linked entries name, below size, in seq
// order.
func (s *Server) caseSelection(c uuid.UUID, size uint64) ([]uint64, error) {
	var seqs []uint64
	seen := map[uint64]bool{}
	for _, seq := range s.l.CaseSeqs(c, 1) {
		if seq >= size {
			break
		}
		seqs, seen[seq] = append(seqs, seq), true
		b, err := s.l.EntryAt(seq)
		if err != nil {
			return nil, err
		}
		if !bytes.Contains(b, []byte(`"type":"recording.linked"`)) {
			continue
		}
		var rec struct {
			Data struct {
				Events []string `json:"events"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, err
		}
		for _, ev := range rec.Data.Events {
			id, err := uuid.Parse(ev)
			if err != nil {
				continue
			}
			ls, err := s.l.SeqOf(id)
			if errors.Is(err, ledger.ErrNotFound) || err == nil && (ls >= size || seen[ls]) {
				continue // a recording not (yet) in the log is not exported
			}
			if err != nil {
				return nil, err
			}
			seqs, seen[ls] = append(seqs, ls), true
		}
	}
	if len(seqs) == 0 {
		return nil, problem(CodeNotFound, "no entries of case "+c.String())
	}
	slices.Sort(seqs)
	return seqs, nil
}

// mediaOf returns the SHA-256 of the media an entry references.
func mediaOf(b []byte) []string {
	if !bytes.Contains(b, []byte(`"media":[`)) {
		return nil
	}
	var rec struct {
		Media []struct {
			SHA256 string `json:"sha256"`
		} `json:"media"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	var out []string
	for _, m := range rec.Media {
		if validSHA256(m.SHA256) {
			out = append(out, m.SHA256)
		}
	}
	return out
}

// appendServerRecord appends a custody.accessed record with data, written
// by the server itself, and waits until it is durable.
func (s *Server) appendServerRecord(r *http.Request, data map[string]any) (ledger.Result, string, error) {
	id := uuid.Must(uuid.NewV7()).String()
	raw, err := json.Marshal(map[string]any{
		"id":          id,
		"type":        custodyType,
		"occurred_at": s.cfg.Now().UTC().Format(time.RFC3339Nano),
		"device":      map[string]any{"id": s.cfg.ServerDeviceID},
		"data":        data,
	})
	if err != nil {
		return ledger.Result{}, "", err
	}
	rec, err := ledger.ParseRecord(raw)
	if err != nil {
		return ledger.Result{}, "", err
	}
	if verr := catalog.Validate(rec.Fields(), s.cfg.Now(), catalog.Options{}); verr != nil {
		return ledger.Result{}, "", verr
	}
	res, err := s.l.AppendRecords(r.Context(), []*ledger.Record{rec})
	if err != nil {
		return ledger.Result{}, "", err
	}
	if res[0].Status != ledger.Accepted {
		return ledger.Result{}, "", errors.New("custody record not accepted: " + res[0].Status.String())
	}
	s.metrics.custody.Inc()
	return res[0], id, nil
}
