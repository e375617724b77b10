package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/ledger"
)

// Paging of the NDJSON reads.
const (
	defaultLimit = 1000
	maxLimit     = 10000
	maxPageBytes = 16 << 20 // a page ends early, with Liuhen-Next, past this many bytes
)

// Headers of the NDJSON reads: the ledger size the read saw, and where the
// next page starts (absent when the read reached the end).
const (
	hdrSize = "Liuhen-Size"
	hdrNext = "Liuhen-Next"
)

// queryUint reads a non-negative integer query parameter, def when absent.
func queryUint(r *http.Request, name string, def uint64) (uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badParam(name, name+" must be a non-negative integer")
	}
	return n, nil
}

func pageParams(r *http.Request) (from uint64, limit int, err error) {
	if from, err = queryUint(r, "from", 0); err != nil {
		return 0, 0, err
	}
	l, err := queryUint(r, "limit", defaultLimit)
	if err != nil {
		return 0, 0, err
	}
	if l == 0 || l > maxLimit {
		return 0, 0, badParam("limit", "limit must be 1 to "+strconv.Itoa(maxLimit))
	}
	return from, int(l), nil
}

// ndjson streams entries' exact stored bytes, one per line.
type ndjson struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	started bool
}

func startNDJSON(w http.ResponseWriter, size uint64) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(hdrSize, strconv.FormatUint(size, 10))
	return &ndjson{w: w, bw: bufio.NewWriterSize(w, 64<<10)}
}

func (n *ndjson) next(v uint64) { n.w.Header().Set(hdrNext, strconv.FormatUint(v, 10)) }

// line writes one entry; the first call sends the headers.
func (n *ndjson) line(b []byte) error {
	if !n.started {
		n.started = true
		n.w.WriteHeader(http.StatusOK)
	}
	if _, err := n.bw.Write(b); err != nil {
		return err
	}
	return n.bw.WriteByte('\n')
}

func (n *ndjson) end() error {
	if !n.started {
		n.w.WriteHeader(http.StatusOK)
	}
	n.bw.Flush() // an error here is the client gone; nothing to answer
	return nil
}

// listEvents is GET /v1/events?from=&limit=: NDJSON of the stored bytes of
// entries from seq from on. Entries are stored as the exact bytes that are
// hashed, so the page is their bytes copied one after another, each with a
// newline, into one reused buffer, and sent with a Content-Length in one
// write: no per-entry allocation or encoding, no chunked framing. (The page
// is built before the first byte goes out so that a read error is still a
// clean problem.)
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ *Token) error {
	from, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	size := s.l.Head().Size
	bp := pageBufs.Get().(*[]byte)
	defer pageBufs.Put(bp)
	buf := (*bp)[:0]
	want, n, bytes := from, 0, 0
	for seq, b := range s.l.Entries(from) {
		if seq != want {
			return ledger.ErrCorrupt
		}
		buf = append(append(buf, b...), '\n')
		want++
		n++
		if bytes += len(b); n == limit || bytes > maxPageBytes {
			break
		}
	}
	*bp = buf
	if n < limit && bytes <= maxPageBytes && want < size {
		return problem(CodeInternal, "the ledger stopped yielding entries at seq "+strconv.FormatUint(want, 10))
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set(hdrSize, strconv.FormatUint(size, 10))
	if want < size {
		h.Set(hdrNext, strconv.FormatUint(want, 10))
	}
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf) // an error here is the client gone; nothing to answer
	return nil
}

// pageBufs recycles the buffers of GET /v1/events pages (up to about
// maxPageBytes each).
var pageBufs = sync.Pool{New: func() any { return new([]byte) }}

func seqParam(r *http.Request) (uint64, error) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		return 0, badParam("seq", "seq must be a non-negative integer")
	}
	return seq, nil
}

func writeEntry(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// eventBySeq is GET /v1/events/{seq}: the exact stored bytes.
func (s *Server) eventBySeq(w http.ResponseWriter, r *http.Request, _ *Token) error {
	seq, err := seqParam(r)
	if err != nil {
		return err
	}
	b, err := s.l.EntryAt(seq)
	if err != nil {
		return err
	}
	return writeEntry(w, b)
}

// eventByID is GET /v1/events/by-id/{id}.
func (s *Server) eventByID(w http.ResponseWriter, r *http.Request, _ *Token) error {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return badParam("id", "id must be a UUID")
	}
	seq, err := s.l.SeqOf(id)
	if err != nil {
		return err
	}
	b, err := s.l.EntryAt(seq)
	if err != nil {
		return err
	}
	return writeEntry(w, b)
}

type mediaStatus struct {
	SHA256      string `json:"sha256"`
	Size        *int64 `json:"size,omitempty"` // as the record declares it
	Arrived     bool   `json:"arrived"`
	StoredSize  *int64 `json:"stored_size,omitempty"`
	UploadBytes *int64 `json:"upload_offset,omitempty"` // bytes of a resumable upload in progress
}

type eventMediaAnswer struct {
	Seq      uint64        `json:"seq"`
	ID       string        `json:"id"`
	Complete bool          `json:"complete"` // every referenced file has arrived
	Media    []mediaStatus `json:"media"`
}

// eventMedia is GET /v1/events/{seq}/media: whether each media file the
// entry references has arrived.
func (s *Server) eventMedia(w http.ResponseWriter, r *http.Request, _ *Token) error {
	seq, err := seqParam(r)
	if err != nil {
		return err
	}
	b, err := s.l.EntryAt(seq)
	if err != nil {
		return err
	}
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return err
	}
	var rec struct {
		Media []struct {
			SHA256 string `json:"sha256"`
			Size   *int64 `json:"size"`
		} `json:"media"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	ans := eventMediaAnswer{Seq: seq, ID: e.ID.String(), Complete: true, Media: []mediaStatus{}}
	for _, m := range rec.Media {
		st := mediaStatus{SHA256: m.SHA256, Size: m.Size}
		if validSHA256(m.SHA256) {
			if n, ok := s.media.stat(m.SHA256); ok {
				st.Arrived, st.StoredSize = true, &n
			} else if have, _, ok, _ := s.media.partial(m.SHA256); ok {
				st.UploadBytes = &have
			}
		}
		ans.Complete = ans.Complete && st.Arrived
		ans.Media = append(ans.Media, st)
	}
	return writeJSON(w, http.StatusOK, ans)
}

// caseEvents is GET /v1/cases/{case_id}/events?from=&limit=: NDJSON of a
// case's entries in case_seq order, from case_seq from (1-based).
func (s *Server) caseEvents(w http.ResponseWriter, r *http.Request, _ *Token) error {
	c, err := uuid.Parse(r.PathValue("case_id"))
	if err != nil {
		return badParam("case_id", "case_id must be a UUID")
	}
	from, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	var lines [][]byte
	var last uint64
	more, bytes := false, 0
	seqs, seqsErr := s.l.CaseSeqs(c, max(from, 1))
	for cs, seq := range seqs {
		if len(lines) == limit {
			more = true
			break
		}
		b, err := s.l.EntryAt(seq)
		if err != nil {
			return err
		}
		lines = append(lines, b)
		last = cs
		if bytes += len(b); bytes > maxPageBytes {
			more = true
			break
		}
	}
	if err := seqsErr(); err != nil {
		return err
	}
	out := startNDJSON(w, s.l.Head().Size)
	if more {
		out.next(last + 1)
	}
	for _, b := range lines {
		if err := out.line(b); err != nil {
			return nil
		}
	}
	return out.end()
}

// deviceEvents is GET /v1/devices/{device_id}/events?from=&limit=: NDJSON
// of a device's entries in ledger order, from ledger seq from.
func (s *Server) deviceEvents(w http.ResponseWriter, r *http.Request, _ *Token) error {
	dev := r.PathValue("device_id")
	if !validDeviceID(dev) {
		return badParam("device_id", "device_id must be 1 to 128 printable characters")
	}
	from, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	var lines [][]byte
	var last uint64
	more, bytes := false, 0
	devSeqs, devSeqsErr := s.l.DeviceSeqs(dev, from)
	for de := range devSeqs {
		if len(lines) == limit {
			more = true
			break
		}
		b, err := s.l.EntryAt(de.Seq)
		if err != nil {
			return err
		}
		lines = append(lines, b)
		last = de.Seq
		if bytes += len(b); bytes > maxPageBytes {
			more = true
			break
		}
	}
	if err := devSeqsErr(); err != nil {
		return err
	}
	out := startNDJSON(w, s.l.Head().Size)
	if more {
		out.next(last + 1)
	}
	for _, b := range lines {
		if err := out.line(b); err != nil {
			return nil
		}
	}
	return out.end()
}
