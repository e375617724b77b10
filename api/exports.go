package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/bundle"
	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/internal/jsonview"
	"github.com/liuhen/liuhen/ledger"
)

// maxExportMedia bounds the media files one export lists, so that its
// custody record stays under the 64 KiB record limit.
const maxExportMedia = 800

type exportRequest struct {
	bundle.ExportRequest
	// Format, "zip" or "tar", asks for the bundle itself rather than the
	// description of the export.
	Format string `json:"format,omitempty"`
}

// exportAnswer is POST /v1/exports's JSON answer.
type exportAnswer = bundle.ExportRecord

// postExport is POST /v1/exports. Every export is first recorded as a
// custody.accessed entry, the way every media read is, and the answer comes
// after the record is durable. The record carries who (the token), why
// (purpose), the size the export is cut at, and the SHA-256 of the exported
// entries as one file (each entry's bytes and a newline) followed by the
// SHA-256 of each media file included, so that a bundle is bound to its
// custody record (docs/bundle.md). For a case the export holds its entries
// and the recordings linked to it, up to the current size; for "all",
// entries [0, size).
//
// Without format the answer (201) describes the export, and the client
// packs the bundle itself (liuhen export). With format "zip" or "tar" (case
// exports only) the server packs it with the same code (bundle.Exporter)
// and the answer (200) is the bundle, streamed (exportBundle).
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
	if err := checkExportRequest(&req.ExportRequest); err != nil {
		return err
	}
	switch req.Format {
	case "":
		ans, err := s.recordExport(r, tok, req.ExportRequest)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, ans)
	case "zip", "tar":
		if req.All {
			return &Problem{Code: CodeBadParameter, Field: "format", Detail: "the server packs case bundles only; export the whole log with liuhen export --all"}
		}
		return s.exportBundle(w, r, tok, req.ExportRequest, req.Format)
	}
	return &Problem{Code: CodeBadParameter, Field: "format", Detail: `format must be "zip" or "tar" (or absent: the export's description)`}
}

func checkExportRequest(req *bundle.ExportRequest) error {
	if req.Purpose == "" || !utf8.ValidString(req.Purpose) || len(req.Purpose) > 1000 {
		return &Problem{Code: CodeBadParameter, Field: "purpose", Detail: "an export needs a purpose (UTF-8, at most 1000 bytes) saying why"}
	}
	if req.All == (req.CaseID != "") {
		return &Problem{Code: CodeBadParameter, Field: "case_id", Detail: "export either one case (case_id) or the whole log (all: true)"}
	}
	if !req.All {
		id, err := uuid.Parse(req.CaseID)
		if err != nil {
			return &Problem{Code: CodeBadParameter, Field: "case_id", Detail: "case_id must be a UUID"}
		}
		req.CaseID = id.String()
	}
	return nil
}

// recordExport appends the custody.accessed entry of an export (checked by
// checkExportRequest) and says what it holds.
func (s *Server) recordExport(r *http.Request, tok *Token, req bundle.ExportRequest) (*exportAnswer, error) {
	size := s.l.Head().Size
	ans := exportAnswer{Scope: bundle.ScopeAll, Size: size, Media: []string{}}
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
				return nil, ledger.ErrCorrupt
			}
			take(b)
			next++
		}
		if next != size {
			// The ledger stopped yielding below the size (a read error):
			// never record an export of fewer entries than it claims.
			return nil, fmt.Errorf("%w: entries end at %d below the size %d", ledger.ErrCorrupt, next, size)
		}
		ans.Count = next
	} else {
		var err error
		if ans.Entries, err = s.caseSelection(uuid.MustParse(req.CaseID), size); err != nil {
			return nil, err
		}
		for _, seq := range ans.Entries {
			b, err := s.l.EntryAt(seq)
			if err != nil {
				return nil, err
			}
			take(b)
		}
		ans.Scope, ans.Count = bundle.ScopeCase, uint64(len(ans.Entries))
	}
	if len(media) > maxExportMedia {
		return nil, problem(CodeTooLarge, "an export includes at most "+strconv.Itoa(maxExportMedia)+" media files; export without media and read them separately")
	}
	ans.EntriesSHA256 = hex.EncodeToString(h.Sum(nil))
	ans.Media = slices.Sorted(maps.Keys(media))
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
		data["case_id"] = req.CaseID
	}
	res, id, err := s.appendServerRecord(r, data)
	if err != nil {
		return nil, err
	}
	ans.Seq, ans.ID, ans.Hash = res.Seq, id, ledger.Hex(res.Hash)
	return &ans, nil
}

// exportBundle records a case export and answers with its evidence bundle,
// packed by bundle.Exporter from the ledger itself, as liuhen export packs
// it from the API: every entry and proof is checked against a checkpoint
// signed by the log's key before the first byte is sent, and every media
// file read is recorded as custody, as GET /v1/media records it. The
// answer's Liuhen-Custody-Seq and Liuhen-Custody-Id name the export's
// custody entry.
func (s *Server) exportBundle(w http.ResponseWriter, r *http.Request, tok *Token, req bundle.ExportRequest, format string) error {
	src := &ledgerSource{s: s, r: r, tok: tok}
	ex := &bundle.Exporter{Source: src, VKey: s.l.VerifierKey()}
	// Staging the media may outlast RequestTimeout; once the bundle is
	// sent, each write must progress within MediaIdleTimeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	bw := &bundleWriter{w: &progressWriter{ResponseWriter: w, s: s}, start: func(h http.Header) {
		ct := "application/zip"
		if format == "tar" {
			ct = "application/x-tar"
		}
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", `attachment; filename="`+bundle.Root(bundle.ScopeCase, req.CaseID, 0)+"."+format+`"`)
		h.Set("Cache-Control", "no-store")
		if src.rec != nil {
			h.Set(hdrCustodySeq, strconv.FormatUint(src.rec.Seq, 10))
			h.Set(hdrCustodyID, src.rec.ID)
		}
	}}
	_, _, err := ex.Export(r.Context(), req, format, bw)
	var ee *bundle.ExportError
	if errors.As(err, &ee) {
		return problem(CodeCorrupt, "the ledger's own export does not verify: "+ee.Error())
	}
	return err
}

// bundleWriter sets the answer's headers just before its first byte, so
// that an error before it is still answered as a problem.
type bundleWriter struct {
	w       http.ResponseWriter
	start   func(http.Header)
	started bool
}

func (b *bundleWriter) Write(p []byte) (int, error) {
	if !b.started {
		b.started = true
		b.start(b.w.Header())
		b.w.WriteHeader(http.StatusOK)
	}
	return b.w.Write(p)
}

// ledgerSource is the server's own ledger as a bundle.Source, for the user
// of tok.
type ledgerSource struct {
	s   *Server
	r   *http.Request
	tok *Token
	rec *bundle.ExportRecord
}

func (ls *ledgerSource) Record(_ context.Context, req bundle.ExportRequest) (*bundle.ExportRecord, error) {
	rec, err := ls.s.recordExport(ls.r, ls.tok, req)
	ls.rec = rec
	return rec, err
}

func (ls *ledgerSource) Receipt(ctx context.Context, seq uint64, witnessed bool) ([]byte, error) {
	if witnessed {
		return ls.s.witnessedReceipt(ctx, seq)
	}
	return ls.s.receiptOf(ctx, seq)
}

func (ls *ledgerSource) Entry(_ context.Context, seq uint64) ([]byte, error) {
	return ls.s.l.EntryAt(seq)
}

func (ls *ledgerSource) InclusionProof(_ context.Context, seq, size uint64) ([][]byte, error) {
	p, err := ls.s.l.InclusionProof(seq, size)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out, nil
}

// Media copies a media file, after recording the read as GET /v1/media
// does.
func (ls *ledgerSource) Media(_ context.Context, sha, purpose string, w io.Writer) error {
	f, err := ls.s.media.open(sha)
	if err != nil {
		return problem(CodeNotFound, "no media "+sha)
	}
	defer f.Close()
	if _, _, err := ls.s.appendCustody(ls.r, ls.tok, sha, purpose); err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}

// caseSelection returns the seqs a case export holds: the case's entries
// and the recordings its recording.linked entries name, below size, in seq
// order.
func (s *Server) caseSelection(c uuid.UUID, size uint64) ([]uint64, error) {
	var seqs []uint64
	seen := map[uint64]bool{}
	caseSeqs, caseSeqsErr := s.l.CaseSeqs(c, 1)
	for _, seq := range caseSeqs {
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
	if err := caseSeqsErr(); err != nil {
		return nil, err
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
	v, err := jsonview.Parse(rec.Canonical())
	if err != nil {
		return ledger.Result{}, "", err
	}
	if verr := catalog.Validate(v, s.cfg.Now(), catalog.Options{}); verr != nil {
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
