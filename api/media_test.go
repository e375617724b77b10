package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/ledger"
)

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// storeFiles lists every file left in the media store.
func storeFiles(t testing.TB, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

func TestMediaPutHeadGet(t *testing.T) {
	f := newFixture(t)
	data := bytes.Repeat([]byte("身体摄像头"), 1000)
	sha := sha256hex(data)
	path := "/v1/media/" + sha
	if w := f.do(req{method: "HEAD", path: path, who: "device"}); w.Code != 404 {
		t.Errorf("HEAD before = %d, want 404", w.Code)
	}
	w := f.do(req{method: "PUT", path: path, who: "device", body: data})
	var ans mediaAnswer
	mustJSON(t, w.Body.Bytes(), &ans)
	if w.Code != 201 || ans.Size != int64(len(data)) || ans.Status != "stored" {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	if w := f.do(req{method: "PUT", path: path, who: "device", body: data}); w.Code != 200 {
		t.Errorf("PUT again = %d, want 200 (present)", w.Code)
	}
	w = f.do(req{method: "HEAD", path: path, who: "auditor"})
	if w.Code != 200 || w.Header().Get("Content-Length") != strconv.Itoa(len(data)) || w.Header().Get(hdrMediaState) != "complete" {
		t.Errorf("HEAD = %d %v", w.Code, w.Header())
	}
	w = f.do(req{method: "GET", path: path, who: "auditor", header: map[string]string{hdrPurpose: "复议答辩"}})
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data) {
		t.Fatalf("GET = %d, %d bytes", w.Code, w.Body.Len())
	}
	// Range reads are served (and recorded like any read).
	w = f.do(req{method: "GET", path: path, who: "admin", header: map[string]string{hdrPurpose: "x", "Range": "bytes=0-14"}})
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), data[:15]) {
		t.Errorf("GET Range = %d %q", w.Code, w.Body)
	}
	for _, bad := range []string{"ABC", strings.ToUpper(sha), sha[:63] + "g", sha + "0"} {
		if w := f.do(req{method: "PUT", path: "/v1/media/" + bad, who: "device", body: data}); w.Code != 400 {
			t.Errorf("PUT /v1/media/%s = %d, want 400", bad, w.Code)
		}
	}
}

// TestMediaWrongHashLeavesNothing: bytes that do not hash to the URL are
// refused with 422, and no file of them stays in the store, by PUT or by a
// resumable upload.
func TestMediaWrongHashLeavesNothing(t *testing.T) {
	f := newFixture(t)
	data := []byte("the real bytes")
	wrong := sha256hex([]byte("other bytes"))
	w := f.do(req{method: "PUT", path: "/v1/media/" + wrong, who: "device", body: data})
	if w.Code != 422 || problemCode(t, w) != CodeHashMismatch {
		t.Fatalf("PUT wrong hash = %d %s", w.Code, w.Body)
	}
	if left := storeFiles(t, f.cfg.MediaDir); len(left) != 0 {
		t.Errorf("after PUT: files left %v", left)
	}
	w = f.do(patch(wrong, 0, len(data), data[:5]))
	if w.Code != 204 || w.Header().Get("Upload-Offset") != "5" {
		t.Fatalf("PATCH 1 = %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = f.do(patch(wrong, 5, -1, data[5:]))
	if w.Code != 422 || problemCode(t, w) != CodeHashMismatch {
		t.Fatalf("PATCH last = %d %s", w.Code, w.Body)
	}
	if left := storeFiles(t, f.cfg.MediaDir); len(left) != 0 {
		t.Errorf("after PATCH: files left %v", left)
	}
	if w := f.do(req{method: "HEAD", path: "/v1/media/" + wrong, who: "device"}); w.Code != 404 {
		t.Errorf("HEAD = %d, want 404", w.Code)
	}
}

func patch(sha string, offset, length int, body []byte) req {
	h := map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": offsetOctetsCT, "Upload-Offset": strconv.Itoa(offset)}
	if length >= 0 {
		h["Upload-Length"] = strconv.Itoa(length)
	}
	return req{method: "PATCH", path: "/v1/media/" + sha, who: "device", body: body, header: h}
}

// cutReader yields n bytes of b and then fails, as a dropped connection does.
type cutReader struct {
	b []byte
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, errors.New("connection dropped")
	}
	k := copy(p, c.b[:min(c.n, len(c.b))])
	c.b, c.n = c.b[k:], c.n-k
	return k, nil
}

// TestResumedMediaUpload sends a file over a real connection that drops
// midway, asks HEAD where to resume, and finishes with PATCH.
func TestResumedMediaUpload(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	sha := sha256hex(data)
	url := ts.URL + "/v1/media/" + sha
	send := func(method string, body io.Reader, h map[string]string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, url, body)
		r.Header.Set("Authorization", "Bearer "+f.secrets["device"])
		for k, v := range h {
			r.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(r)
		if err != nil {
			return nil
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkSpec(t, method, "/v1/media/"+sha, resp.StatusCode, resp.Header, b)
		return resp
	}
	tus := func(offset int) map[string]string {
		return map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": offsetOctetsCT,
			"Upload-Offset": strconv.Itoa(offset), "Upload-Length": strconv.Itoa(len(data))}
	}
	// First attempt: the body breaks after 300 KiB; the client sees an error.
	send("PATCH", &cutReader{b: data, n: 300 << 10}, tus(0))
	// The server keeps what arrived. Once the broken request's handler is
	// done, an empty PATCH at the offset HEAD reports is accepted (before,
	// it is 409 upload_in_progress).
	var offset int
	waitFor(t, "the server to store the bytes it received", func() bool {
		resp := send("HEAD", nil, nil)
		offset, _ = strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if resp.StatusCode != 200 || resp.Header.Get(hdrMediaState) != "partial" || offset == 0 {
			return false
		}
		resp = send("PATCH", bytes.NewReader(nil), tus(offset))
		return resp.StatusCode == 204 && resp.Header.Get("Upload-Offset") == strconv.Itoa(offset)
	})
	if offset > 300<<10 {
		t.Fatalf("offset %d beyond what was sent", offset)
	}
	// A PATCH at a wrong offset is refused with the right one.
	if resp := send("PATCH", bytes.NewReader(data[:10]), tus(offset+1)); resp.StatusCode != 409 ||
		resp.Header.Get("Upload-Offset") != strconv.Itoa(offset) {
		t.Fatalf("wrong offset: %d %v", resp.StatusCode, resp.Header)
	}
	resp := send("PATCH", bytes.NewReader(data[offset:]), tus(offset))
	if resp.StatusCode != 204 || resp.Header.Get(hdrMediaState) != "complete" || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("resumed PATCH = %d %v", resp.StatusCode, resp.Header)
	}
	got, err := os.ReadFile(f.srv.media.objectPath(sha))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored file differs (%v)", err)
	}
	if left := storeFiles(t, filepath.Join(f.cfg.MediaDir, "partial")); len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
	// The partial state survives a restart: start another upload, restart,
	// resume.
	data2 := []byte(strings.Repeat("restart", 1000))
	sha2 := sha256hex(data2)
	if w := f.do(patch(sha2, 0, len(data2), data2[:100])); w.Code != 204 {
		t.Fatal(w.Code)
	}
	f.restart()
	w := f.do(req{method: "HEAD", path: "/v1/media/" + sha2, who: "device"})
	if w.Header().Get("Upload-Offset") != "100" || w.Header().Get("Upload-Length") != strconv.Itoa(len(data2)) {
		t.Fatalf("HEAD after restart: %v", w.Header())
	}
	if w := f.do(patch(sha2, 100, -1, data2[100:])); w.Code != 204 || w.Header().Get(hdrMediaState) != "complete" {
		t.Fatalf("PATCH after restart = %d %s", w.Code, w.Body)
	}
}

func TestPatchProtocolErrors(t *testing.T) {
	f := newFixture(t)
	sha := sha256hex([]byte("abc"))
	for _, tt := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"no Tus-Resumable", req{method: "PATCH", path: "/v1/media/" + sha, who: "device", header: map[string]string{"Content-Type": offsetOctetsCT, "Upload-Offset": "0"}}, 412, CodeUnsupportedTus},
		{"wrong Content-Type", req{method: "PATCH", path: "/v1/media/" + sha, who: "device", header: map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0"}}, 415, CodeUnsupportedMedia},
		{"no Upload-Offset", req{method: "PATCH", path: "/v1/media/" + sha, who: "device", header: map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": offsetOctetsCT}}, 400, CodeBadParameter},
		{"first PATCH without length", patch(sha, 0, -1, []byte("a")), 400, CodeMissingLength},
		{"body past length", patch(sha, 0, 2, []byte("abc")), 409, CodeSizeMismatch},
	} {
		w := f.do(tt.r)
		if w.Code != tt.status || problemCode(t, w) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, w.Code, w.Body, tt.status, tt.code)
		}
	}
	f.cfg.MaxMediaSize = 1 << 10
	var err error
	if f.srv, err = New(withRegistry(f.cfg)); err != nil {
		t.Fatal(err)
	}
	if w := f.do(patch(sha256hex([]byte("big")), 0, 1<<20, nil)); w.Code != 413 || problemCode(t, w) != CodeTooLarge {
		t.Errorf("declared length over MaxMediaSize: %d", w.Code)
	}
	if w := f.do(req{method: "OPTIONS", path: "/v1/media/" + sha}); w.Code != 204 || w.Header().Get("Tus-Version") != "1.0.0" {
		t.Errorf("OPTIONS = %d %v", w.Code, w.Header())
	}
}

func withRegistry(c Config) Config { c.Registry = nil; return c }

// TestMediaGetWritesCustody: every GET of media appends a custody.accessed
// entry (who, what, when, why) before the bytes go out; a GET without a
// purpose is refused and writes nothing.
func TestMediaGetWritesCustody(t *testing.T) {
	f := newFixture(t)
	data := []byte("evidence")
	sha := sha256hex(data)
	f.do(req{method: "PUT", path: "/v1/media/" + sha, who: "device", body: data})

	if w := f.do(req{method: "GET", path: "/v1/media/" + sha, who: "auditor"}); w.Code != 400 || problemCode(t, w) != CodePurposeRequired {
		t.Fatalf("GET without purpose = %d %s", w.Code, w.Body)
	}
	if n := f.l.Head().Size; n != 0 {
		t.Fatalf("size %d after a refused read", n)
	}
	for i, who := range []string{"auditor", "admin"} {
		purpose := "行政复议%E7%AD%94%E8%BE%A9" // percent-encoded 答辩
		w := f.do(req{method: "GET", path: "/v1/media/" + sha, who: who, header: map[string]string{hdrPurpose: purpose}})
		if w.Code != 200 {
			t.Fatalf("GET = %d", w.Code)
		}
		seq, _ := strconv.ParseUint(w.Header().Get(hdrCustodySeq), 10, 64)
		if seq != uint64(i) {
			t.Errorf("custody seq = %d, want %d", seq, i)
		}
		b, err := f.l.EntryAt(seq)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			OccurredAt string `json:"occurred_at"`
			Device     struct{ ID string }
			Data       struct {
				Actor, Purpose, Role string
				TokenID              string `json:"token_id"`
				Media                []string
			}
		}
		mustJSON(t, b, &e)
		if e.Type != "custody.accessed" || e.Data.Actor != "test "+who || e.Data.Role != who || e.Data.Purpose != "行政复议答辩" ||
			len(e.Data.Media) != 1 || e.Data.Media[0] != sha || e.Device.ID != "liuhen-server" || e.ID != w.Header().Get(hdrCustodyID) {
			t.Errorf("custody entry = %s", b)
		}
		if _, err := ledger.ParseTimestamp(e.OccurredAt); err != nil {
			t.Errorf("occurred_at: %v", err)
		}
	}
	if w := f.do(req{method: "GET", path: "/v1/media/" + sha256hex([]byte("none")), who: "auditor", header: map[string]string{hdrPurpose: "x"}}); w.Code != 404 {
		t.Errorf("GET of missing media = %d, want 404", w.Code)
	}
	if n := f.l.Head().Size; n != 2 {
		t.Errorf("size %d, want 2 custody entries", n)
	}
}
