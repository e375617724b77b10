package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/bundle"
	"github.com/liuhen/liuhen/ledger"
)

func exportReq(who, body string) req {
	return req{method: "POST", path: "/v1/exports", who: who, body: []byte(body), header: map[string]string{"Content-Type": "application/json"}}
}

// exportCase is the case postExportCase builds.
const exportCase = "0193f09e-1111-7000-8000-000000000042"

// postExportCase uploads a recording's media file and posts, in order: the
// recording (seq 0, no case), an inspection of exportCase (1), an
// inspection of another case (2), and the recording's link to exportCase
// (3). It returns the media file's SHA-256.
func postExportCase(t *testing.T, f *fixture) string {
	t.Helper()
	media := []byte("body camera footage")
	sha := sha256hex(media)
	f.do(req{method: "PUT", path: "/v1/media/" + sha, who: "device", body: media})
	recording := rec("recording.made", "ZFY-1", map[string]any{"case_id": nil,
		"data":  map[string]any{"started_at": "2020-05-12T09:00:00+08:00", "ended_at": "2020-05-12T09:10:00+08:00", "interruptions": []any{}},
		"media": []any{map[string]any{"sha256": sha, "size": len(media), "content_type": "video/mp4"}}})
	for _, r := range []string{recording, rec("inspection.recorded", "ZFY-1", nil),
		rec("inspection.recorded", "ZFY-1", map[string]any{"case_id": "0193f09e-1111-7000-8000-000000000099"}),
		rec("recording.linked", "ZFY-1", map[string]any{"data": map[string]any{"case_id": exportCase, "events": []any{idOf(t, recording)}}})} {
		if w := f.post("device", r); w.Code != 200 {
			t.Fatalf("POST = %d %s", w.Code, w.Body)
		}
	}
	return sha
}

// TestExportWritesCustody: POST /v1/exports appends a custody.accessed
// entry naming who, why, what (the SHA-256 of the exported entries and of
// each media file), and answers with the case's entries and the recordings
// linked to it.
func TestExportWritesCustody(t *testing.T) {
	f := newFixture(t)
	const caseID = exportCase
	sha := postExportCase(t, f)
	w := f.do(exportReq("auditor", `{"purpose":"行政诉讼举证","case_id":"`+caseID+`","media":true}`))
	if w.Code != 201 {
		t.Fatalf("POST /v1/exports = %d %s", w.Code, w.Body)
	}
	var a exportAnswer
	mustJSON(t, w.Body.Bytes(), &a)
	if a.Seq != 4 || a.Size != 4 || a.Scope != "case" || a.Count != 3 || len(a.Entries) != 3 || a.Entries[0] != 0 || a.Entries[1] != 1 || a.Entries[2] != 3 {
		t.Fatalf("answer = %+v, want entries [0 1 3] cut at size 4, custody at 4", a)
	}
	if len(a.Media) != 1 || a.Media[0] != sha {
		t.Errorf("media = %v, want [%s]", a.Media, sha)
	}
	h := sha256.New()
	for _, s := range a.Entries {
		b, _ := f.l.EntryAt(s)
		h.Write(append(b, '\n'))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.EntriesSHA256 {
		t.Errorf("entries_sha256 = %s, want %s", a.EntriesSHA256, got)
	}
	b, err := f.l.EntryAt(a.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if ledger.Hex(ledger.LeafHash(b)) != a.Hash {
		t.Errorf("hash = %s, not the custody entry's", a.Hash)
	}
	var e struct {
		Type   string
		CaseID string `json:"case_id"`
		Data   struct {
			Actor, Purpose, Access, Scope, Role string
			CaseID                              string   `json:"case_id"`
			EntriesSHA256                       string   `json:"entries_sha256"`
			Media                               []string `json:"media"`
			Size, Entries                       uint64
		}
	}
	mustJSON(t, b, &e)
	if e.CaseID != "" || e.Data.CaseID != caseID || e.Data.Access != "export" || e.Data.Actor != "test auditor" || e.Data.Purpose != "行政诉讼举证" ||
		e.Data.Scope != "case" || e.Data.Size != 4 || e.Data.Entries != 3 || e.Data.EntriesSHA256 != a.EntriesSHA256 ||
		len(e.Data.Media) != 2 || e.Data.Media[0] != a.EntriesSHA256 || e.Data.Media[1] != sha {
		t.Errorf("custody entry = %s", b)
	}
	if !bytes.Contains(b, []byte(`"type":"custody.accessed"`)) {
		t.Errorf("custody entry type: %s", b)
	}

	// The whole log, by an admin.
	w = f.do(exportReq("admin", `{"purpose":"归档","all":true}`))
	if w.Code != 201 {
		t.Fatalf("export all = %d %s", w.Code, w.Body)
	}
	mustJSON(t, w.Body.Bytes(), &a)
	if a.Scope != "all" || a.Size != 5 || a.Count != 5 || a.Seq != 5 || len(a.Media) != 0 {
		t.Errorf("export all = %+v", a)
	}
}

func TestExportRefused(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		who, body string
		status    int
		code      string
	}{
		{"device", `{"purpose":"x","all":true}`, 403, CodeForbidden},
		{"reporter", `{"purpose":"x","all":true}`, 403, CodeForbidden},
		{"", `{"purpose":"x","all":true}`, 401, CodeUnauthenticated},
		{"auditor", `{"all":true}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","all":true,"case_id":"0193f09e-1111-7000-8000-000000000042"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","case_id":"nope"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","case_id":"0193f09e-1111-7000-8000-000000000042"}`, 404, CodeNotFound},
		{"auditor", `{"purpose":"x","all":true,"extra":1}`, 400, CodeMalformedJSON},
	} {
		w := f.do(exportReq(tc.who, tc.body))
		if w.Code != tc.status || problemCode(t, w) != tc.code {
			t.Errorf("%s %s = %d %s, want %d %s", tc.who, tc.body, w.Code, w.Body, tc.status, tc.code)
		}
	}
	if n := f.l.Head().Size; n != 0 {
		t.Errorf("refused exports wrote %d entries", n)
	}
}

// TestExportBundle: with a format, POST /v1/exports answers with the case's
// evidence bundle, packed by the server (bundle.Exporter), which
// bundle.Verify accepts offline against the log's key; the export and the
// media read it made are recorded as custody.
func TestExportBundle(t *testing.T) {
	f := newFixture(t)
	const caseID = exportCase
	sha := postExportCase(t, f)
	for _, tc := range []struct {
		format, ct string
		media      bool
	}{{"zip", "application/zip", true}, {"tar", "application/x-tar", false}} {
		before := f.l.Head().Size
		w := f.do(exportReq("auditor", `{"purpose":"行政诉讼举证","case_id":"`+caseID+`","format":"`+tc.format+`","media":`+strconv.FormatBool(tc.media)+`}`))
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ct {
			t.Fatalf("POST /v1/exports format %s = %d %s %.300s", tc.format, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="liuhen-case-`+caseID+`.`+tc.format+`"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		seq, err := strconv.ParseUint(w.Header().Get(hdrCustodySeq), 10, 64)
		if err != nil || seq != before {
			t.Errorf("%s = %q, want %d (the export's custody entry)", hdrCustodySeq, w.Header().Get(hdrCustodySeq), before)
		}
		path := filepath.Join(t.TempDir(), "bundle."+tc.format)
		if err := os.WriteFile(path, w.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := bundle.Verify(context.Background(), path, f.l.VerifierKey(), bundle.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != 0 {
			t.Fatalf("the server's bundle does not verify: %v", rep.Problems)
		}
		wantMedia := 0
		if tc.media {
			wantMedia = 1
		}
		if rep.Scope != bundle.ScopeCase || rep.Case != caseID || rep.Entries != 3 || rep.Media != wantMedia ||
			rep.Custody == nil || rep.Custody.Seq != seq || rep.Custody.Purpose != "行政诉讼举证" || rep.Custody.Actor != "test auditor" {
			t.Errorf("report = %+v, custody %+v", rep, rep.Custody)
		}
		// The export's custody entry, and with media one read entry for
		// the file, are in the ledger.
		var reads int
		for s := seq + 1; s < f.l.Head().Size; s++ {
			b, _ := f.l.EntryAt(s)
			var e struct {
				Type string
				Data struct {
					Access, Purpose string
					Media           []string
				}
			}
			mustJSON(t, b, &e)
			if e.Type == "custody.accessed" && e.Data.Access == "read" && len(e.Data.Media) == 1 && e.Data.Media[0] == sha &&
				strings.Contains(e.Data.Purpose, "证据包导出") {
				reads++
			}
		}
		if reads != wantMedia {
			t.Errorf("%d media reads recorded after the export, want %d", reads, wantMedia)
		}
	}
}

// TestExportBundleRefused: who may not export, or asks for what the server
// does not pack, gets a problem and no bytes of a bundle; nothing is
// recorded.
func TestExportBundleRefused(t *testing.T) {
	f := newFixture(t)
	const caseID = "0193f09e-1111-7000-8000-000000000042"
	if w := f.post("device", rec("inspection.recorded", "ZFY-1", nil)); w.Code != 200 {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		who, body string
		status    int
		code      string
	}{
		{"reporter", `{"purpose":"x","case_id":"` + caseID + `","format":"zip"}`, 403, CodeForbidden},
		{"device", `{"purpose":"x","case_id":"` + caseID + `","format":"zip"}`, 403, CodeForbidden},
		{"", `{"purpose":"x","case_id":"` + caseID + `","format":"zip"}`, 401, CodeUnauthenticated},
		{"auditor", `{"case_id":"` + caseID + `","format":"zip"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","case_id":"` + caseID + `","format":"rar"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","all":true,"format":"tar"}`, 400, CodeBadParameter},
		{"auditor", `{"purpose":"x","case_id":"0193f09e-1111-7000-8000-000000000099","format":"zip"}`, 404, CodeNotFound},
	} {
		w := f.do(exportReq(tc.who, tc.body))
		if w.Code != tc.status || problemCode(t, w) != tc.code || w.Header().Get("Content-Disposition") != "" {
			t.Errorf("%s %s = %d %s, want %d %s", tc.who, tc.body, w.Code, w.Body, tc.status, tc.code)
		}
	}
	if n := f.l.Head().Size; n != 1 {
		t.Errorf("refused exports wrote %d entries", n-1)
	}
}
