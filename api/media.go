package api

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/liuhen/liuhen/ledger"
)

// Media transfer headers. Resumable uploads follow the tus 1.0.0 core
// protocol (HEAD for the offset, PATCH to append) on the media URL itself:
// the URL is the content hash, so the upload resource needs no creation
// step; the first PATCH (Upload-Offset: 0) declares Upload-Length.
const (
	tusVersion     = "1.0.0"
	hdrPurpose     = "Liuhen-Purpose"     // why media is read; recorded in custody.accessed
	hdrMediaState  = "Liuhen-Media-State" // complete or partial
	hdrCustodySeq  = "Liuhen-Custody-Seq" // the seq of the custody.accessed entry a GET wrote
	hdrCustodyID   = "Liuhen-Custody-Id"
	offsetOctetsCT = "application/offset+octet-stream"
	custodyType    = "custody.accessed"
)

func mediaSHA(r *http.Request) (string, error) {
	sha := r.PathValue("sha256")
	if !validSHA256(sha) {
		return "", badParam("sha256", "a media path is the file's SHA-256 as 64 lowercase hex digits")
	}
	return sha, nil
}

type mediaAnswer struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Status string `json:"status"` // stored, or present when it was already there
}

// putMedia is PUT /v1/media/{sha256}: the whole file in one body.
func (s *Server) putMedia(w http.ResponseWriter, r *http.Request, _ *Token) error {
	sha, err := mediaSHA(r)
	if err != nil {
		return err
	}
	if size, ok := s.media.stat(sha); ok {
		return writeJSON(w, http.StatusOK, mediaAnswer{sha, size, "present"})
	}
	if r.ContentLength > s.cfg.MaxMediaSize {
		return problem(CodeTooLarge, "a media file is at most "+strconv.FormatInt(s.cfg.MaxMediaSize, 10)+" bytes")
	}
	unlock, ok := s.media.lock(sha)
	if !ok {
		return problem(CodeUploadBusy, "another request is uploading this file")
	}
	defer unlock()
	body := s.progressReader(w, r.Body)
	size, err := s.media.put(sha, body, s.cfg.MaxMediaSize)
	if err != nil {
		return s.mediaError(err)
	}
	s.metrics.mediaBytes.Add(float64(size))
	return writeJSON(w, http.StatusCreated, mediaAnswer{sha, size, "stored"})
}

func (s *Server) mediaError(err error) error {
	if errors.Is(err, errHashMismatch) {
		return problem(CodeHashMismatch, "the uploaded bytes do not hash to the SHA-256 in the URL; nothing was kept")
	}
	return err
}

// patchMedia is PATCH /v1/media/{sha256} (tus 1.0.0 core): append the body
// at Upload-Offset. When the upload is complete its hash is checked; a
// mismatch is 422 and the partial upload is deleted.
func (s *Server) patchMedia(w http.ResponseWriter, r *http.Request, _ *Token) error {
	w.Header().Set("Tus-Resumable", tusVersion)
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
		return &Problem{Code: CodeUnsupportedTus, Detail: "Tus-Resumable must be " + tusVersion,
			Header: http.Header{"Tus-Version": {tusVersion}}}
	}
	if ct := r.Header.Get("Content-Type"); ct != offsetOctetsCT {
		return problem(CodeUnsupportedMedia, "PATCH takes "+offsetOctetsCT)
	}
	sha, err := mediaSHA(r)
	if err != nil {
		return err
	}
	offset, err := headerInt(r, "Upload-Offset", true)
	if err != nil {
		return err
	}
	length, err := headerInt(r, "Upload-Length", false)
	if err != nil {
		return err
	}
	if size, ok := s.media.stat(sha); ok {
		return uploadState(w, size, size, "complete")
	}
	unlock, ok := s.media.lock(sha)
	if !ok {
		return problem(CodeUploadBusy, "another request is uploading this file")
	}
	defer unlock()
	have, declared, exists, err := s.media.partial(sha)
	if err != nil {
		return err
	}
	switch {
	case !exists && length < 0:
		return &Problem{Code: CodeMissingLength, Detail: "the first PATCH of an upload must carry Upload-Length"}
	case !exists && length > s.cfg.MaxMediaSize:
		return problem(CodeTooLarge, "a media file is at most "+strconv.FormatInt(s.cfg.MaxMediaSize, 10)+" bytes")
	case exists && length >= 0 && length != declared:
		return &Problem{Code: CodeSizeMismatch, Field: "Upload-Length",
			Detail: "this upload was started with Upload-Length " + strconv.FormatInt(declared, 10)}
	}
	if !exists {
		declared = length
	}
	if offset != have {
		return &Problem{Code: CodeOffsetMismatch, Field: "Upload-Offset",
			Detail: "the server holds " + strconv.FormatInt(have, 10) + " bytes of this upload",
			Header: http.Header{"Upload-Offset": {strconv.FormatInt(have, 10)}}}
	}
	if r.ContentLength > declared-offset {
		return &Problem{Code: CodeSizeMismatch, Field: "Content-Length", Detail: "the body goes past Upload-Length"}
	}
	if !exists {
		if err := s.media.startPartial(sha, length); err != nil {
			return err
		}
	}
	now, cerr := s.media.appendPartial(sha, offset, declared, s.progressReader(w, r.Body))
	s.metrics.mediaBytes.Add(float64(now - offset))
	if cerr != nil && now == offset {
		return cerr // nothing new was stored; the client will ask HEAD and retry
	}
	if now < declared {
		return uploadState(w, now, declared, "partial")
	}
	if err := s.media.finishPartial(sha); err != nil {
		return s.mediaError(err)
	}
	return uploadState(w, declared, declared, "complete")
}

func uploadState(w http.ResponseWriter, offset, length int64, state string) error {
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	h.Set("Upload-Length", strconv.FormatInt(length, 10))
	h.Set(hdrMediaState, state)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// headerInt reads a non-negative integer header; -1 when absent and not
// required.
func headerInt(r *http.Request, name string, required bool) (int64, error) {
	v := r.Header.Get(name)
	if v == "" {
		if required {
			return 0, badParam(name, name+" is required")
		}
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badParam(name, name+" must be a non-negative integer")
	}
	return n, nil
}

// headMedia is HEAD /v1/media/{sha256}: 200 with Content-Length when the
// file is complete, 200 with Upload-Offset and Upload-Length while a
// resumable upload is under way, 404 when the server has none of it.
func (s *Server) headMedia(w http.ResponseWriter, r *http.Request, _ *Token) error {
	sha, err := mediaSHA(r)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Cache-Control", "no-store")
	if size, ok := s.media.stat(sha); ok {
		n := strconv.FormatInt(size, 10)
		h.Set("Content-Length", n)
		h.Set("Upload-Offset", n)
		h.Set("Upload-Length", n)
		h.Set(hdrMediaState, "complete")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	have, length, ok, err := s.media.partial(sha)
	if err != nil {
		return err
	}
	if !ok {
		return problem(CodeNotFound, "no such media")
	}
	h.Set("Upload-Offset", strconv.FormatInt(have, 10))
	h.Set("Upload-Length", strconv.FormatInt(length, 10))
	h.Set(hdrMediaState, "partial")
	w.WriteHeader(http.StatusOK)
	return nil
}

// optionsMedia is OPTIONS /v1/media/{sha256}: the tus capabilities.
func (s *Server) optionsMedia(w http.ResponseWriter, r *http.Request, _ *Token) error {
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Tus-Version", tusVersion)
	h.Set("Tus-Max-Size", strconv.FormatInt(s.cfg.MaxMediaSize, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getMedia is GET /v1/media/{sha256}. Before a byte is sent, it appends a
// custody.accessed entry (who, what, when, why) and waits for it to be
// durable: a read that cannot be recorded is refused with 503.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request, tok *Token) error {
	sha, err := mediaSHA(r)
	if err != nil {
		return err
	}
	purpose, err := purposeOf(r, "reading media")
	if err != nil {
		return err
	}
	f, err := s.media.open(sha)
	if err != nil {
		return problem(CodeNotFound, "no such media")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	res, id, err := s.appendCustody(r, tok, sha, purpose)
	if err != nil {
		return err
	}
	sum, _ := hex.DecodeString(sha)
	h := w.Header()
	h.Set(hdrCustodySeq, strconv.FormatUint(res.Seq, 10))
	h.Set(hdrCustodyID, id)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+sha+`"`)
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(&progressWriter{ResponseWriter: w, s: s}, r, "", st.ModTime(), f)
	return nil
}

// purposeOf returns the request's Liuhen-Purpose header, which what (a
// read of evidence that custody.accessed records) requires.
func purposeOf(r *http.Request, what string) (string, error) {
	purpose := r.Header.Get(hdrPurpose)
	if p, err := url.PathUnescape(purpose); err == nil {
		purpose = p
	}
	if purpose == "" || !utf8.ValidString(purpose) || len(purpose) > 1000 {
		return "", &Problem{Code: CodePurposeRequired, Field: hdrPurpose,
			Detail: what + " needs a " + hdrPurpose + " header (UTF-8, may be percent-encoded, at most 1000 bytes) saying why"}
	}
	return purpose, nil
}

// appendCustody writes the custody.accessed entry of a media read.
func (s *Server) appendCustody(r *http.Request, tok *Token, sha, purpose string) (ledger.Result, string, error) {
	data := map[string]any{
		"actor":    tok.Name,
		"purpose":  purpose,
		"media":    []string{sha},
		"access":   "read",
		"token_id": tok.ID,
		"role":     tok.Role.String(),
	}
	if rg := r.Header.Get("Range"); rg != "" && len(rg) < 200 {
		data["range"] = rg
	}
	return s.appendServerRecord(r, data)
}

// progressReader extends the read deadline each time bytes arrive, so that
// a multi-gigabyte upload may take hours but a stalled one is dropped after
// MediaIdleTimeout.
func (s *Server) progressReader(w http.ResponseWriter, r io.Reader) io.Reader {
	return &deadlineReader{r: r, rc: http.NewResponseController(w), idle: s.cfg.MediaIdleTimeout}
}

type deadlineReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(d.idle))
	return d.r.Read(p)
}

// progressWriter is the same for downloads.
type progressWriter struct {
	http.ResponseWriter
	s *Server
}

func (p *progressWriter) Write(b []byte) (int, error) {
	_ = http.NewResponseController(p.ResponseWriter).SetWriteDeadline(time.Now().Add(p.s.cfg.MediaIdleTimeout))
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
