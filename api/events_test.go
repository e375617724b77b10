package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPostEventsStatuses covers every status of POST /v1/events with a
// single-record body, which is answered with its record's own status.
func TestPostEventsStatuses(t *testing.T) {
	f := newFixture(t)
	good := rec("inspection.recorded", "ZFY-1", nil)
	big := rec("inspection.recorded", "ZFY-1", map[string]any{"data": map[string]any{"findings": strings.Repeat("x", 70<<10)}})
	tests := []struct {
		name, who, ctype, body string
		status                 int
		code                   string // problem code; "" for 200
		result                 string // status of results[0], if any
	}{
		{"accepted", "device", "application/json", good, 200, "", StatusAccepted},
		{"duplicate", "device", "application/json", good, 200, "", StatusDuplicate},
		{"conflict", "device", "application/json", strings.Replace(good, "占道经营", "违法建设", 1), 409, CodeConflict, StatusConflict},
		{"unknown type", "device", "application/json", rec("case.teleported", "ZFY-1", nil), 422, "unknown_type", StatusRejected},
		{"missing data field", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"data": map[string]any{}}), 422, "missing_field", StatusRejected},
		{"missing case_id", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"case_id": nil}), 422, "case_id_required", StatusRejected},
		{"money not fen", "device", "application/json", rec("payment.received", "ZFY-1", map[string]any{"data": map[string]any{"amount_fen": 200.5, "receipt_no": "R"}}), 422, "money_not_fen", StatusRejected},
		{"future", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"occurred_at": time.Now().Add(time.Hour).Format(time.RFC3339)}), 422, "occurred_in_future", StatusRejected},
		{"no offset", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"occurred_at": "2020-05-12T09:31:02"}), 422, "invalid_field", StatusRejected},
		{"reserved field", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"seq": 7}), 422, "reserved_field", StatusRejected},
		{"missing id", "device", "application/json", rec("inspection.recorded", "ZFY-1", map[string]any{"id": nil}), 422, "missing_field", StatusRejected},
		{"foreign device", "device", "application/json", rec("inspection.recorded", "ZFY-2", nil), 403, CodeForeignDevice, StatusRejected},
		{"server's device id", "device", "application/json", rec("inspection.recorded", "liuhen-server", nil), 403, CodeForeignDevice, StatusRejected},
		{"custody.accessed from a client", "device", "application/json", rec("custody.accessed", "ZFY-1", map[string]any{"case_id": nil,
			"data": map[string]any{"actor": "x", "purpose": "y", "media": []any{strings.Repeat("a", 64)}}}), 403, CodeServerOnlyType, StatusRejected},
		{"record over 64 KiB", "device", "application/json", big, 413, CodeTooLarge, StatusRejected},
		{"malformed JSON object", "device", "application/json", `{"id": `, 400, CodeMalformedJSON, StatusRejected},
		{"not JSON", "device", "application/json", `hello`, 400, CodeMalformedJSON, ""},
		{"empty", "device", "application/json", ``, 400, CodeMalformedJSON, ""},
		{"malformed array", "device", "application/json", `[{"a":1},`, 400, CodeMalformedJSON, ""},
		{"text/plain", "device", "text/plain", good, 415, CodeUnsupportedMedia, ""},
		{"no token", "", "application/json", good, 401, CodeUnauthenticated, ""},
		{"bad token", "lh_nope", "application/json", good, 401, CodeUnauthenticated, ""},
		{"auditor", "auditor", "application/json", good, 403, CodeForbidden, ""},
		{"admin", "admin", "application/json", good, 403, CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(req{method: "POST", path: "/v1/events", who: tt.who, body: []byte(tt.body),
				header: map[string]string{"Content-Type": tt.ctype}})
			if w.Code != tt.status {
				t.Fatalf("POST %s = %d %s, want %d", tt.name, w.Code, w.Body, tt.status)
			}
			if tt.code != "" {
				if got := problemCode(t, w); got != tt.code {
					t.Errorf("code = %q, want %q", got, tt.code)
				}
			}
			if tt.result == "" {
				return
			}
			rs := results(t, w)
			if len(rs) != 1 || rs[0].Status != tt.result {
				t.Fatalf("results = %+v, want one %s", rs, tt.result)
			}
			if tt.code != "" && tt.code != CodeConflict && (rs[0].Error == nil || rs[0].Error.Code != tt.code) {
				t.Errorf("result error = %+v, want code %s", rs[0].Error, tt.code)
			}
		})
	}
	// The conflict answers with the original's position.
	w := f.post("device", good)
	if rs := results(t, w); rs[0].Seq == nil || *rs[0].Seq != 0 {
		t.Errorf("duplicate seq = %v, want 0", rs[0].Seq)
	}
	if got := f.l.Head().Size; got != 1 {
		t.Errorf("ledger size = %d, want 1: only the first record is an entry", got)
	}
}

func TestPostEventsTooLarge(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxRequestBytes = 4096; c.MaxRecords = 3 })
	var four []string
	for range 4 {
		four = append(four, rec("inspection.recorded", "ZFY-1", nil))
	}
	for _, tt := range []struct{ name, ctype, body string }{
		{"body over the limit", "application/json", "[" + strings.Repeat(" ", 5000) + "]"},
		{"too many records (array)", "application/json", "[" + strings.Join(four, ",") + "]"},
		{"too many records (NDJSON)", "application/x-ndjson", strings.Join(four, "\n")},
	} {
		w := f.do(req{method: "POST", path: "/v1/events", who: "device", body: []byte(tt.body), header: map[string]string{"Content-Type": tt.ctype}})
		if w.Code != http.StatusRequestEntityTooLarge || problemCode(t, w) != CodeTooLarge {
			t.Errorf("%s: %d %s, want 413 too_large", tt.name, w.Code, w.Body)
		}
	}
	if n := f.l.Head().Size; n != 0 {
		t.Errorf("size = %d after refused requests, want 0", n)
	}
}

// TestPartialBatchRejection: bad records in a batch fail alone; the good
// ones are appended, in order, and answered in request order.
func TestPartialBatchRejection(t *testing.T) {
	for _, ndjson := range []bool{false, true} {
		t.Run(fmt.Sprintf("ndjson=%v", ndjson), func(t *testing.T) {
			f := newFixture(t)
			taken := rec("inspection.recorded", "ZFY-1", nil)
			if w := f.post("device", taken); w.Code != 200 {
				t.Fatal(w.Body)
			}
			recs := []string{
				rec("inspection.recorded", "ZFY-1", nil),
				rec("case.teleported", "ZFY-1", nil),
				rec("evidence.collected", "ZFY-1", nil),
				rec("inspection.recorded", "ZFY-2", nil),
				strings.Replace(taken, "占道经营", "改了", 1),
				taken,
				`{"id":"0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b61","type":"inspection.recorded"}`,
				`[1,2]`,
			}
			want := []struct{ status, code string }{
				{StatusAccepted, ""}, {StatusRejected, "unknown_type"}, {StatusAccepted, ""},
				{StatusRejected, CodeForeignDevice}, {StatusConflict, CodeConflict}, {StatusDuplicate, ""},
				{StatusRejected, "missing_field"}, {StatusRejected, "not_object"},
			}
			body, ct := "["+strings.Join(recs, ",")+"]", "application/json"
			if ndjson {
				recs = append(recs, `{"id": broken`)
				want = append(want, struct{ status, code string }{StatusRejected, CodeMalformedJSON})
				body, ct = strings.Join(recs, "\n")+"\n\n", "application/x-ndjson"
			}
			w := f.do(req{method: "POST", path: "/v1/events", who: "device", body: []byte(body), header: map[string]string{"Content-Type": ct}})
			if w.Code != 200 {
				t.Fatalf("batch = %d %s, want 200", w.Code, w.Body)
			}
			rs := results(t, w)
			if len(rs) != len(want) {
				t.Fatalf("%d results, want %d", len(rs), len(want))
			}
			for i, r := range rs {
				code := ""
				if r.Error != nil {
					code = r.Error.Code
				}
				if r.Index != i || r.Status != want[i].status || code != want[i].code {
					t.Errorf("result %d = {%d %s %s}, want {%d %s %s}", i, r.Index, r.Status, code, i, want[i].status, want[i].code)
				}
			}
			if rs[0].ID != idOf(t, recs[0]) || rs[6].ID != "0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b61" {
				t.Errorf("ids not echoed: %q %q", rs[0].ID, rs[6].ID)
			}
			if *rs[0].Seq != 1 || *rs[2].Seq != 2 || *rs[5].Seq != 0 || *rs[4].Seq != 0 {
				t.Errorf("seqs = %d %d %d %d, want 1 2 0 0", *rs[0].Seq, *rs[2].Seq, *rs[5].Seq, *rs[4].Seq)
			}
			if n := f.l.Head().Size; n != 3 {
				t.Errorf("size = %d, want 3", n)
			}
		})
	}
}

func TestDuplicateAfterRestart(t *testing.T) {
	f := newFixture(t)
	r := rec("evidence.collected", "ZFY-1", nil)
	w := f.post("device", r)
	first := results(t, w)[0]
	if first.Status != StatusAccepted {
		t.Fatalf("first = %+v", first)
	}
	f.restart()
	w = f.post("device", r)
	again := results(t, w)[0]
	if w.Code != 200 || again.Status != StatusDuplicate || *again.Seq != *first.Seq || again.Hash != first.Hash {
		t.Errorf("after restart: %d %+v, want duplicate of %+v", w.Code, again, first)
	}
	w = f.post("device", strings.Replace(r, "现场照片", "别的", 1))
	if w.Code != http.StatusConflict {
		t.Errorf("changed content after restart: %d, want 409", w.Code)
	}
}

func TestMissingMediaInResult(t *testing.T) {
	f := newFixture(t)
	data := []byte("video bytes")
	sha := sha256hex(data)
	r := rec("evidence.collected", "ZFY-1", map[string]any{"media": []any{map[string]any{"sha256": sha, "size": len(data)}}})
	rs := results(t, f.post("device", r))
	if len(rs[0].MissingMedia) != 1 || rs[0].MissingMedia[0] != sha {
		t.Fatalf("missing_media = %v, want [%s]", rs[0].MissingMedia, sha)
	}
	seq := *rs[0].Seq
	var em eventMediaAnswer
	w := f.do(req{method: "GET", path: fmt.Sprintf("/v1/events/%d/media", seq), who: "auditor"})
	mustJSON(t, w.Body.Bytes(), &em)
	if em.Complete || len(em.Media) != 1 || em.Media[0].Arrived {
		t.Errorf("before upload: %+v", em)
	}
	if w := f.do(req{method: "PUT", path: "/v1/media/" + sha, who: "device", body: data}); w.Code != http.StatusCreated {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	w = f.do(req{method: "GET", path: fmt.Sprintf("/v1/events/%d/media", seq), who: "auditor"})
	mustJSON(t, w.Body.Bytes(), &em)
	if !em.Complete || !em.Media[0].Arrived || *em.Media[0].StoredSize != int64(len(data)) {
		t.Errorf("after upload: %+v", em)
	}
	// A duplicate submission now reports nothing missing.
	if rs := results(t, f.post("device", r)); rs[0].Status != StatusDuplicate || rs[0].MissingMedia != nil {
		t.Errorf("resubmitted: %+v", rs[0])
	}
}

// TestPostDeepRecord: a record nested as deep as the ledger accepts (an
// extra member, which the catalogue keeps) passes the catalogue check,
// whose reader must follow it; a bad fine at the bottom is still found.
func TestPostDeepRecord(t *testing.T) {
	f := newFixture(t)
	deep := func(leaf any) any {
		var v any = leaf
		for range 2000 {
			v = []any{v}
		}
		return v
	}
	ok := rec("inspection.recorded", "ZFY-1", map[string]any{"data": map[string]any{"findings": "占道经营", "x": deep("y")}})
	if rs := results(t, f.post("device", ok)); len(rs) != 1 || rs[0].Status != StatusAccepted {
		t.Fatalf("POST a 2,000-deep record: results %+v, want accepted", rs)
	}
	bad := rec("inspection.recorded", "ZFY-1", map[string]any{"data": map[string]any{"findings": "占道经营", "x": deep(map[string]any{"fine_fen": -1})}})
	w := f.post("device", bad)
	if w.Code != 422 || problemCode(t, w) != "money_not_fen" {
		t.Errorf("POST a 2,000-deep negative fine = %d %.200s, want 422 money_not_fen", w.Code, w.Body)
	}
}

// TestPostCaseExtended: case.extended (延长办案期限), an extension beyond
// catalogue v1 (docs/events.md §9), is accepted through the ingest path,
// and validated like any catalogued type.
func TestPostCaseExtended(t *testing.T) {
	f := newFixture(t)
	ok := rec("case.extended", "ZFY-1", map[string]any{"data": map[string]any{"extra_days": 30, "approved_by": "O-0001", "reason": "需检测鉴定"}})
	if rs := results(t, f.post("device", ok)); len(rs) != 1 || rs[0].Status != StatusAccepted {
		t.Fatalf("POST case.extended: results %+v, want accepted", rs)
	}
	bad := rec("case.extended", "ZFY-1", map[string]any{"data": map[string]any{"extra_days": 0, "approved_by": "O-0001", "reason": "x"}})
	w := f.post("device", bad)
	if w.Code != 422 || problemCode(t, w) != "invalid_field" {
		t.Errorf("POST case.extended with extra_days 0 = %d %s, want 422 invalid_field", w.Code, w.Body)
	}
	if got := f.l.Head().Size; got != 1 {
		t.Errorf("ledger size = %d, want 1", got)
	}
}
