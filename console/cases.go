package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/internal/catalog"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
)

// caseFilter is the case list's filter form: the parameters of GET
// /v1/cases, passed through as they are.
type caseFilter struct {
	Category, Procedure, Stage, Status, From, To, Officer string
}

var filterParams = []string{"category", "procedure", "stage", "status", "from", "to", "officer"}

type caseRow struct {
	casefile.Summary
	Violations, Warnings int
}

type casesData struct {
	Filter     caseFilter
	Rows       []caseRow
	Next       string // query of the next page, "" on the last
	First      string // query of the first page, "" on it
	Error      string // a filter the API refused
	Note       string
	AsOf       uint64
	Categories []catalogValue
	Stages     []string
	Badges     bool // findings are available
}

type catalogValue struct{ Code, Chinese string }

const casesPerPage = 50

func (c *Console) caseList(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := casesData{Filter: caseFilter{q.Get("category"), q.Get("procedure"), q.Get("stage"), q.Get("status"),
		q.Get("from"), q.Get("to"), q.Get("officer")}}
	for _, v := range catalog.Categories() {
		d.Categories = append(d.Categories, catalogValue{v.Code, v.Chinese})
	}
	for _, st := range stageOrder {
		d.Stages = append(d.Stages, string(st))
	}
	aq := url.Values{}
	for _, p := range filterParams {
		if v := q.Get(p); v != "" {
			aq.Set(p, v)
		}
	}
	aq.Set("limit", itoa(casesPerPage))
	if cur := q.Get("cursor"); cur != "" {
		aq.Set("cursor", cur)
	}
	var page casefile.Page
	err := c.getJSON(r, s, "/v1/cases?"+aq.Encode(), &page)
	var ae *apiError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		d.Error = "筛选条件有误：" + ae.Detail
	case denied(err):
		d.Note = "您的角色无权查看案卷。"
	case missing(err):
		d.Note = "暂无数据：案卷尚未启用。"
	default:
		return err
	}
	d.AsOf = page.AsOf.Size
	badges := map[string]*caseRow{}
	for _, cs := range page.Cases {
		d.Rows = append(d.Rows, caseRow{Summary: cs})
	}
	for i := range d.Rows {
		badges[d.Rows[i].CaseID] = &d.Rows[i]
	}
	if len(d.Rows) > 0 {
		if fs, _, err := c.findings(r, s, url.Values{"open": {"true"}}); err == nil {
			d.Badges = true
			for _, f := range fs {
				if row := badges[f.CaseID]; row != nil {
					if f.Severity == "violation" {
						row.Violations++
					} else {
						row.Warnings++
					}
				}
			}
		}
	}
	if page.Next != "" {
		nq := url.Values{}
		for _, p := range filterParams {
			if v := q.Get(p); v != "" {
				nq.Set(p, v)
			}
		}
		first := nq.Encode()
		nq.Set("cursor", page.Next)
		d.Next = "?" + nq.Encode()
		if q.Get("cursor") != "" {
			d.First = "?" + first
		}
	} else if q.Get("cursor") != "" {
		q.Del("cursor")
		d.First = "?" + q.Encode()
	}
	c.render(w, r, s, http.StatusOK, "cases", d)
	return nil
}

type mediaRow struct {
	projections.Media
	Present *bool
}

type recordingRow struct {
	casefile.Recording
	Media []mediaRow
}

// attachedRow is an entry other than a recording.made that carries media
// (photos, recordings of an inspection, scanned documents).
type attachedRow struct {
	Seq      uint64
	TypeName string
	Media    []mediaRow
}

type caseData struct {
	V            *casefile.View
	Deadlines    []casefile.Deadline // the case file's and the compliance rules', by due date
	Parties      []party
	Findings     []finding
	FindingsFrom string
	Recordings   []recordingRow
	Attached     []attachedRow
	Reader       bool   // may verify entries and play recordings
	Export       bool   // an export endpoint is configured
	CLI          string // the liuhen export command
	VKey         string
	Origin       string
}

func (c *Console) casePage(w http.ResponseWriter, r *http.Request, s *session) error {
	id, err := uuid.Parse(r.PathValue("case_id"))
	if err != nil {
		return errNotFound
	}
	var v casefile.View
	if err := c.getJSON(r, s, "/v1/cases/"+id.String(), &v); err != nil {
		return err
	}
	if v.File == nil {
		return errNotFound
	}
	d := caseData{V: &v, Reader: s.token.Role&readers != 0, Export: c.cfg.ExportPath != ""}
	for _, p := range v.Parties {
		d.Parties = append(d.Parties, partyOf(p))
	}
	var ruleDeadlines []casefile.Deadline
	d.Findings, ruleDeadlines, d.FindingsFrom = c.caseFindings(r, s, v.CaseID, v.Findings)
	d.Deadlines = mergeDeadlines(v.Deadlines, ruleDeadlines)
	present := map[string]*bool{}
	for _, it := range v.Timeline {
		for _, m := range it.Media {
			if m.Present != nil {
				present[m.SHA256] = m.Present
			}
		}
	}
	for _, rec := range v.Recordings {
		row := recordingRow{Recording: rec}
		for _, m := range rec.Media {
			p := present[m.SHA256]
			if p == nil && d.Reader {
				p = c.mediaPresent(r, s, m.SHA256)
			}
			row.Media = append(row.Media, mediaRow{Media: m, Present: p})
		}
		d.Recordings = append(d.Recordings, row)
	}
	for _, it := range v.Timeline {
		if it.Type == "recording.made" || len(it.Media) == 0 {
			continue
		}
		row := attachedRow{Seq: it.Seq, TypeName: it.TypeName}
		for _, m := range it.Media {
			p := m.Present
			if p == nil && d.Reader {
				p = c.mediaPresent(r, s, m.SHA256)
			}
			row.Media = append(row.Media, mediaRow{Media: m.Media, Present: p})
		}
		d.Attached = append(d.Attached, row)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	d.CLI = "LIUHEN_TOKEN=<审计员令牌> liuhen export --server " + scheme + "://" + r.Host + " --case " + v.CaseID +
		" --key log.vkey --purpose 案件审查 --out 证据包-" + v.CaseID + ".zip"
	if c.cfg.Ledger != nil {
		d.VKey, d.Origin = c.cfg.Ledger.VerifierKey(), c.cfg.Ledger.Origin()
	}
	c.render(w, r, s, http.StatusOK, "case", d)
	return nil
}

// mediaPresent asks HEAD /v1/media/{sha256}: nil when it cannot tell.
func (c *Console) mediaPresent(r *http.Request, s *session, sha string) *bool {
	w, err := c.callMethod(r, s, http.MethodHead, "/v1/media/"+url.PathEscape(sha))
	var yes, no = true, false
	switch {
	case err == nil && w.header.Get("Liuhen-Media-State") == "complete":
		return &yes
	case err == nil || missing(err):
		return &no
	}
	return nil
}

// mediaView is POST /console/cases/{id}/media/{sha256}: the user asks to
// view a recording, saying why. It grants a ticket and shows the player;
// every request the player makes goes through the API's media GET, which
// writes a custody.accessed entry with the user's token and this purpose.
func (c *Console) mediaView(w http.ResponseWriter, r *http.Request, s *session) error {
	id, err := uuid.Parse(r.PathValue("case_id"))
	if err != nil {
		return errNotFound
	}
	sha := r.PathValue("sha256")
	var v casefile.View
	if err := c.getJSON(r, s, "/v1/cases/"+id.String(), &v); err != nil {
		return err
	}
	if v.File == nil {
		return errNotFound
	}
	var m *projections.Media
	for _, rec := range v.Recordings {
		for i := range rec.Media {
			if rec.Media[i].SHA256 == sha {
				m = &rec.Media[i]
			}
		}
	}
	for _, it := range v.Timeline {
		for i := range it.Media {
			if m == nil && it.Media[i].SHA256 == sha {
				m = &it.Media[i].Media
			}
		}
	}
	if m == nil {
		return errNotFound
	}
	purpose := strings.TrimSpace(r.PostFormValue("purpose"))
	if purpose == "" || utf8.RuneCountInString(purpose) > 200 {
		c.render(w, r, s, http.StatusBadRequest, "error", errorData{Title: "请填写调阅目的", Message: "调阅音像资料须填写目的（200 字以内），它将记入账本。"})
		return nil
	}
	label := v.CaseNumber
	if label == "" {
		label = v.CaseID
	}
	t := ticket{caseID: v.CaseID, sha256: sha, contentType: m.ContentType,
		purpose: "控制台调阅（案卷 " + label + "）：" + purpose, expires: c.cfg.Now().Add(ticketTTL)}
	tid := c.sessions.addTicket(s, t)
	if tid == "" {
		return errNotFound
	}
	http.Redirect(w, r, "/console/play/"+tid, http.StatusSeeOther)
	return nil
}

type playData struct {
	CaseID, SHA256, ContentType, Purpose, Src string
	Kind                                      string // video, audio, image or file
}

func (c *Console) playPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, ok := c.sessions.ticket(s, r.PathValue("ticket"))
	if !ok {
		c.render(w, r, s, http.StatusNotFound, "error", errorData{Title: "调阅已过期", Message: "请回到案卷重新申请调阅。"})
		return nil
	}
	d := playData{CaseID: t.caseID, SHA256: t.sha256, ContentType: t.contentType, Purpose: t.purpose,
		Src: "/console/media/" + r.PathValue("ticket"), Kind: mediaKind(t.contentType)}
	c.render(w, r, s, http.StatusOK, "play", d)
	return nil
}

// mediaKind says how the player shows a content type. SVG and anything
// unknown are offered as a download, never rendered.
func mediaKind(ct string) string {
	switch {
	case strings.HasPrefix(ct, "video/"):
		return "video"
	case strings.HasPrefix(ct, "audio/"):
		return "audio"
	case slices.Contains([]string{"image/jpeg", "image/png", "image/gif", "image/webp"}, ct):
		return "image"
	}
	return "file"
}

// mediaStream is GET /console/media/{ticket}: the API's media GET, with the
// user's token and the ticket's purpose, streamed to the browser.
func (c *Console) mediaStream(w http.ResponseWriter, r *http.Request, s *session) error {
	t, ok := c.sessions.ticket(s, r.PathValue("ticket"))
	if !ok {
		return errNotFound
	}
	sub, err := newSubRequest(r.Context(), r, s, http.MethodGet, "/v1/media/"+url.PathEscape(t.sha256))
	if err != nil {
		return err
	}
	sub.Header.Set("Liuhen-Purpose", url.PathEscape(t.purpose))
	for _, h := range []string{"Range", "If-Range"} {
		if v := r.Header.Get(h); v != "" {
			sub.Header.Set(h, v)
		}
	}
	ct, disp := "application/octet-stream", "attachment"
	if k := mediaKind(t.contentType); k != "file" {
		ct, disp = t.contentType, "inline"
	}
	// A recording outlasts the page timeout; the API's media GET sets its
	// own idle deadlines.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	c.cfg.API.ServeHTTP(&mediaWriter{ResponseWriter: w, contentType: ct, disposition: disp}, sub)
	return nil
}

// mediaWriter passes an API answer through, on success with the given
// content type (if any) and content disposition.
type mediaWriter struct {
	http.ResponseWriter
	contentType, disposition string
	wrote                    bool
}

func (m *mediaWriter) WriteHeader(code int) {
	if !m.wrote && code/100 == 2 {
		if m.contentType != "" {
			m.Header().Set("Content-Type", m.contentType)
		}
		m.Header().Set("Content-Disposition", m.disposition)
	}
	m.wrote = true
	m.ResponseWriter.WriteHeader(code)
}

func (m *mediaWriter) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return m.ResponseWriter.Write(b)
}

func (m *mediaWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// export is POST /console/cases/{id}/export: the user asks for the case's
// evidence bundle (证据包), saying why. The console asks the API's export
// endpoint (Config.ExportPath, POST /v1/exports with format zip) with the
// user's own token: the API records the export as custody.accessed (who,
// why, what), packs and checks the bundle, and the answer goes to the
// browser as a download. A refusal is shown as a page.
func (c *Console) export(w http.ResponseWriter, r *http.Request, s *session) error {
	id, err := uuid.Parse(r.PathValue("case_id"))
	if err != nil || c.cfg.ExportPath == "" {
		return errNotFound
	}
	purpose := strings.TrimSpace(r.PostFormValue("purpose"))
	if purpose == "" || utf8.RuneCountInString(purpose) > 200 {
		c.render(w, r, s, http.StatusBadRequest, "error", errorData{Title: "请填写导出目的", Message: "导出证据包须填写目的（200 字以内），它将记入账本。"})
		return nil
	}
	body, err := json.Marshal(map[string]any{"case_id": id.String(), "purpose": "控制台导出：" + purpose,
		"media": r.PostFormValue("media") == "on", "format": "zip", "witnessed": c.cfg.WitnessedExport})
	if err != nil {
		return err
	}
	sub, err := newSubRequest(r.Context(), r, s, http.MethodPost, c.cfg.ExportPath)
	if err != nil {
		return err
	}
	sub.Body, sub.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	sub.Header.Set("Content-Type", "application/json")
	// Packing a bundle with recordings outlasts the page timeout; the API
	// sets its own deadlines while it sends.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	ew := &exportWriter{w: w, header: http.Header{}}
	c.cfg.API.ServeHTTP(ew, sub)
	if ew.failed != nil {
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		json.Unmarshal(ew.failed.Bytes(), &p)
		if ew.status == http.StatusRequestEntityTooLarge {
			c.render(w, r, s, http.StatusRequestEntityTooLarge, "error", errorData{Title: "音像资料过多",
				Message: "一次导出最多包含 800 个音像文件。请不勾选“包含音像资料”导出证据包，音像资料另行调阅。"})
			return nil
		}
		return &apiError{Status: ew.status, Code: p.Code, Detail: p.Detail}
	}
	if ew.status == 0 {
		return errors.New("console: the export endpoint answered nothing")
	}
	return nil
}

// exportWriter passes a successful answer of the export endpoint through
// to the browser (the bundle, with its type, attachment name and custody
// headers), and keeps a refusal (a problem) for the console to show.
type exportWriter struct {
	w      http.ResponseWriter
	header http.Header
	status int
	failed *bytes.Buffer // the problem of an answer that is not a success
}

func (e *exportWriter) Header() http.Header { return e.header }

func (e *exportWriter) WriteHeader(code int) {
	if e.status != 0 {
		return
	}
	e.status = code
	if code/100 != 2 {
		e.failed = &bytes.Buffer{}
		return
	}
	for _, h := range []string{"Content-Type", "Content-Disposition", "Content-Length", "Liuhen-Custody-Seq", "Liuhen-Custody-Id"} {
		if v := e.header.Get(h); v != "" {
			e.w.Header().Set(h, v)
		}
	}
	e.w.WriteHeader(code)
}

func (e *exportWriter) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.failed != nil {
		if e.failed.Len()+len(b) > 64<<10 {
			return 0, errors.New("console: problem answer too large")
		}
		return e.failed.Write(b)
	}
	return e.w.Write(b)
}

func (e *exportWriter) Unwrap() http.ResponseWriter { return e.w }

// entryBytes is GET /console/entries/{seq}: the API's GET /v1/events/{seq}
// with the user's token, byte for byte, for 验证 in the browser (which
// cannot send the token itself: it stays on the server).
func (c *Console) entryBytes(w http.ResponseWriter, r *http.Request, s *session) error {
	seq := r.PathValue("seq")
	if seq == "" || strings.Trim(seq, "0123456789") != "" {
		return errNotFound
	}
	sub, err := newSubRequest(r.Context(), r, s, http.MethodGet, "/v1/events/"+seq)
	if err != nil {
		return err
	}
	c.cfg.API.ServeHTTP(w, sub)
	return nil
}

// mergeDeadlines joins the case file's open deadlines with the compliance
// rules' (which include passed ones), one per rule and entry, by due date.
func mergeDeadlines(a, b []casefile.Deadline) []casefile.Deadline {
	type key struct {
		rule string
		seq  uint64
	}
	seen := map[key]bool{}
	var out []casefile.Deadline
	for _, d := range append(slices.Clone(a), b...) {
		if k := (key{d.Rule, d.Seq}); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(x, y casefile.Deadline) int { return x.Due.Compare(y.Due) })
	return out
}
