package casefile_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/casefile"
	"github.com/liuhen/liuhen/projections/internal/feed"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
)

const (
	caseA = "0193f09e-1111-7000-8000-00000000000a"
	caseB = "0193f09e-1111-7000-8000-00000000000b"
)

var n int

func rec(typ, c, at, data string, extra string) []byte {
	n++
	cs := ""
	if c != "" {
		cs = fmt.Sprintf(`"case_id":%q,`, c)
	}
	if data != "" {
		data = `,"data":` + data
	}
	return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":%q,%s"occurred_at":%q,"device":{"id":"ZFY-7","seq":%d},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}]%s%s}`, n, typ, cs, at, n, data, extra))
}

const recID = "0193f0a2-7c1e-7b3a-9d55-000000000001"

func scenario() [][]byte {
	n = 0
	media := func(h string) string {
		return fmt.Sprintf(`,"media":[{"sha256":"%064s","size":10,"content_type":"video/mp4"}]`, h)
	}
	return [][]byte{
		// A recording made before the case was known (n=1 → recID).
		rec("recording.made", "", "2020-05-12T09:00:00+08:00", `{"started_at":"2020-05-12T09:00:00+08:00","ended_at":"2020-05-12T09:20:00+08:00","interruptions":[]}`, media("a1")),
		rec("case.registered", caseA, "2020-05-12T09:31:00+08:00", `{"source":"patrol","summary":"占道经营"}`, ""),
		rec("case.opened", caseA, "2020-05-12T10:00:00+08:00", `{"case_number":"晋市城管立字〔2020〕第1号","procedure":"general","category":"street_vending","parties":[{"kind":"person","name":"张三丰","id_number":"140502198001011234"}],"approved_by":"O-0001"}`, ""),
		rec("inspection.recorded", caseA, "2020-05-12T10:30:00+08:00", `{"document_no":"晋市城管检字〔2020〕第1号","findings":"现场"}`, media("b2")),
		rec("recording.linked", caseA, "2020-05-12T11:00:00+08:00", `{"case_id":"`+caseA+`","events":["`+recID+`"]}`, ""),
		rec("evidence.preserved", caseA, "2020-05-13T10:00:00+08:00", `{"items":["三轮车"],"approved_by":"O-0001"}`, ""),
		rec("decision.made", caseA, "2020-06-01T10:00:00+08:00", `{"outcome":"penalty","penalties":["fine"],"fine_fen":100000,"legal_basis":["条例第三十六条"],"document_no":"晋市城管罚字〔2020〕第1号","major":false}`, ""),
		rec("document.served", caseA, "2020-06-02T10:00:00+08:00", `{"document":"decision","method":"direct","recipient":"张三丰"}`, ""),
		rec("payment.received", caseA, "2020-06-10T10:00:00+08:00", `{"amount_fen":40000,"receipt_no":"R1"}`, ""),
		rec("case.opened", caseB, "2020-07-01T10:00:00Z", `{"case_number":"晋市城管立字〔2020〕第2号","procedure":"simple","category":"dust","parties":[{"kind":"org","name":"某公司"}],"approved_by":"O-0001"}`, ""),
		rec("case.closed", caseB, "2020-07-02T10:00:00+08:00", `{"reason":"结案"}`, ""),
	}
}

func server(t *testing.T, cfg casefile.Config) (*httptest.Server, uint64) {
	l := projtest.Ledger(t, scenario())
	st := projtest.Build(t, l, casefile.New())
	srv := httptest.NewServer(casefile.Handler(st, cfg))
	t.Cleanup(srv.Close)
	return srv, l.Head().Size
}

func get(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d", url, resp.StatusCode, wantStatus)
	}
	ct := resp.Header.Get("Content-Type")
	if wantStatus >= 400 && ct != "application/problem+json" || wantStatus < 400 && ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestCaseFile(t *testing.T) {
	now := time.Date(2020, 6, 27, 12, 0, 0, 0, time.UTC) // due 2020-06-17 end of day; 10 days late
	cfg := casefile.Config{
		Now:          func() time.Time { return now },
		MediaPresent: func(h string) bool { return h == fmt.Sprintf("%064s", "a1") },
	}
	srv, size := server(t, cfg)
	var v casefile.View
	get(t, srv.URL+"/v1/cases/"+caseA, 200, &v)
	if v.CaseNumber != "晋市城管立字〔2020〕第1号" || v.Category != "street_vending" || v.Procedure != "general" || v.Status != "open" {
		t.Errorf("header = %+v", v.File)
	}
	if v.Stage != "执行" {
		t.Errorf("stage = %s, want 执行", v.Stage)
	}
	if v.AsOf.Size != size {
		t.Errorf("as_of.size = %d, want %d", v.AsOf.Size, size)
	}
	if len(v.Officers) != 2 || v.Officers[0].Entries != 8 {
		t.Errorf("officers = %+v", v.Officers)
	}
	// The timeline holds the case's 8 entries and the recording linked late,
	// at its own seq, with its media present.
	if len(v.Timeline) != 9 || v.Timeline[0].Type != "recording.made" || v.Timeline[0].Seq != 0 || v.Timeline[0].LinkedSeq != 4 {
		t.Fatalf("timeline = %+v", v.Timeline)
	}
	if p := v.Timeline[0].Media[0].Present; p == nil || !*p {
		t.Errorf("linked recording media present = %v, want true", p)
	}
	if p := v.Timeline[3].Media[0].Present; p == nil || *p {
		t.Errorf("inspection media present = %v, want false", p)
	}
	if len(v.Recordings) != 1 || v.Recordings[0].ID != recID {
		t.Errorf("recordings = %+v", v.Recordings)
	}
	if len(v.Documents) != 2 || v.Documents[1].DocumentNo != "晋市城管罚字〔2020〕第1号" {
		t.Errorf("documents = %+v", v.Documents)
	}
	a := v.Amounts
	// 100000 fen fine, 40000 paid, 10 days late: 3% × 10 × 100000 = 30000.
	if a.DecidedFen != 100000 || a.PaidFen != 40000 || a.OutstandingFen != 60000 || a.OverdueDays != 10 || a.SurchargeFen != 30000 {
		t.Errorf("amounts = %+v", a)
	}
	rules := map[string]bool{}
	for _, d := range v.Deadlines {
		rules[d.Rule] = d.Overdue
	}
	want := map[string]bool{"preservation-7d": true, "publish-7wd": true, "payment-15d": true}
	if fmt.Sprint(rules) != fmt.Sprint(want) {
		t.Errorf("deadlines = %+v, want %v", v.Deadlines, want)
	}
	if v.Findings == nil {
		t.Errorf("findings = nil, want []")
	}

	var p problem
	get(t, srv.URL+"/v1/cases/not-a-uuid", 400, &p)
	if p.Code != projections.CodeBadParameter {
		t.Errorf("code = %q", p.Code)
	}
	get(t, srv.URL+"/v1/cases/0193f09e-1111-7000-8000-0000000000ff", 404, &p)
	if p.Code != projections.CodeNotFound {
		t.Errorf("code = %q", p.Code)
	}
}

type problem struct {
	Code  string `json:"code"`
	Param string `json:"param"`
}

func TestSurcharge(t *testing.T) {
	for _, tc := range []struct {
		fine int64
		days int
		want int64
	}{{100000, 0, 0}, {100000, 1, 3000}, {100000, 33, 99000}, {100000, 34, 100000}, {100000, 400, 100000}, {333, 1, 9}, {0, 5, 0}} {
		if got := casefile.Surcharge(tc.fine, tc.days); got != tc.want {
			t.Errorf("Surcharge(%d, %d) = %d, want %d", tc.fine, tc.days, got, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	srv, _ := server(t, casefile.Config{})
	list := func(q string) []string {
		var p casefile.Page
		get(t, srv.URL+"/v1/cases?"+q, 200, &p)
		var ids []string
		for _, c := range p.Cases {
			ids = append(ids, c.CaseID)
		}
		return ids
	}
	for _, tc := range []struct {
		q    string
		want string
	}{
		{"", fmt.Sprint([]string{caseB, caseA})},
		{"category=dust", fmt.Sprint([]string{caseB})},
		{"procedure=general", fmt.Sprint([]string{caseA})},
		{"status=open", fmt.Sprint([]string{caseA})},
		{"status=closed", fmt.Sprint([]string{caseB})},
		{"stage=" + url.QueryEscape("执行"), fmt.Sprint([]string{caseA})},
		{"from=2020-07-01&to=2020-07-01", fmt.Sprint([]string{caseB})},
		{"to=2020-05-12", fmt.Sprint([]string{caseA})},
		{"officer=14050020190031", fmt.Sprint([]string{caseB, caseA})},
		{"officer=O-9999", "[]"},
	} {
		if got := fmt.Sprint(list(tc.q)); got != tc.want {
			t.Errorf("GET /v1/cases?%s = %s, want %s", tc.q, got, tc.want)
		}
	}
	// Paging: one at a time, following next.
	var p casefile.Page
	get(t, srv.URL+"/v1/cases?limit=1", 200, &p)
	if len(p.Cases) != 1 || p.Cases[0].CaseID != caseB || p.Next == "" {
		t.Fatalf("page 1 = %+v", p)
	}
	var p2 casefile.Page
	get(t, srv.URL+"/v1/cases?limit=1&cursor="+p.Next, 200, &p2)
	if len(p2.Cases) != 1 || p2.Cases[0].CaseID != caseA || p2.Next != "" {
		t.Fatalf("page 2 = %+v", p2)
	}
	for _, q := range []string{"category=x", "procedure=x", "stage=x", "status=x", "from=2020-13-01", "limit=0", "limit=x", "cursor=zz"} {
		var pr problem
		get(t, srv.URL+"/v1/cases?"+q, 400, &pr)
		if pr.Code != projections.CodeBadParameter || pr.Param == "" {
			t.Errorf("GET /v1/cases?%s: problem %+v", q, pr)
		}
	}
}

// TestSyntheticCases reads every case of a synthetic year.
func TestSyntheticCases(t *testing.T) {
	l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 11, Cases: 60}))
	st := projtest.Build(t, l, casefile.New())
	sn, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	p, err := casefile.List(sn, casefile.Filter{}, 500, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cases) != 60 {
		t.Fatalf("List = %d cases, want 60", len(p.Cases))
	}
	entries := 0
	for _, c := range p.Cases {
		id := mustUUID(t, c.CaseID)
		v, err := casefile.Read(sn, id, casefile.Config{})
		if err != nil || v == nil {
			t.Fatalf("Read(%s) = %v, %v", c.CaseID, v, err)
		}
		for _, it := range v.Timeline {
			if it.LinkedSeq == 0 {
				entries++
			}
		}
		if v.Status != "closed" || v.Amounts.PaidFen > v.Amounts.DecidedFen {
			t.Errorf("case %s: status %s amounts %+v", c.CaseID, v.Status, v.Amounts)
		}
	}
	// Every entry with a case is on exactly one timeline.
	withCase := 0
	for _, raw := range l.Entries(0) {
		var m struct {
			CaseID string `json:"case_id"`
		}
		json.Unmarshal(raw, &m)
		if m.CaseID != "" {
			withCase++
		}
	}
	if entries != withCase {
		t.Errorf("timelines hold %d entries, ledger has %d with a case", entries, withCase)
	}
}

// TestLinkBeforeRecording: a recording.linked can arrive before the
// recording it names (the body camera synced late). The case shows the
// recording once it is in the ledger, not before, at the recording's own
// place in the timeline, after the case's own recording made before it
// and before one made after it.
func TestLinkBeforeRecording(t *testing.T) {
	n = 100
	lateID := fmt.Sprintf("0193f0a2-7c1e-7b3a-9d55-%012d", 105) // the 5th record below
	media := `,"media":[{"sha256":"` + fmt.Sprintf("%064s", "c3") + `","size":1}]`
	recData := `{"started_at":"2020-05-12T09:00:00+08:00","ended_at":"2020-05-12T09:20:00+08:00","interruptions":[]}`
	first := [][]byte{
		rec("case.opened", caseA, "2020-05-12T10:00:00+08:00", `{"case_number":"晋市城管立字〔2020〕第9号","procedure":"general","category":"street_vending","parties":[],"approved_by":"O-0001"}`, ""),
		rec("recording.made", caseA, "2020-05-12T10:10:00+08:00", recData, ""),
		rec("recording.linked", caseA, "2020-05-12T11:00:00+08:00", `{"case_id":"`+caseA+`","events":["`+lateID+`"]}`, ""),
		rec("inspection.recorded", caseA, "2020-05-12T11:30:00+08:00", `{"findings":"现场"}`, ""),
	}
	late := [][]byte{
		rec("recording.made", "", "2020-05-12T09:00:00+08:00", recData, media), // lateID, no case
		rec("recording.made", caseA, "2020-05-13T10:00:00+08:00", recData, ""),
	}
	l := projtest.Ledger(t, first)
	rt := projtest.Runtime(t, l, t.TempDir(), feed.Options{})
	st, err := rt.Register("read", casefile.New())
	if err != nil {
		t.Fatal(err)
	}
	projtest.Start(t, rt)
	read := func() *casefile.View {
		t.Helper()
		if err := st.Wait(t.Context(), l.Head().Size); err != nil {
			t.Fatal(err)
		}
		sn, err := st.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer sn.Close()
		v, err := casefile.Read(sn, mustUUID(t, caseA), casefile.Config{})
		if err != nil || v == nil {
			t.Fatalf("Read = %v, %v", v, err)
		}
		return v
	}
	if v := read(); len(v.Recordings) != 1 || len(v.Timeline) != 4 {
		t.Fatalf("before the recording arrived: recordings %+v, timeline of %d", v.Recordings, len(v.Timeline))
	}
	projtest.Append(t, l, late)
	v := read()
	var ids []string
	for _, r := range v.Recordings {
		ids = append(ids, fmt.Sprintf("%s@%d/%d", r.ID[len(r.ID)-3:], r.Seq, r.LinkedSeq))
	}
	if want := []string{"102@1/0", "105@4/2", "106@5/0"}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("recordings (id@seq/linked_seq) = %v, want %v", ids, want)
	}
	var tl []string
	for _, it := range v.Timeline {
		tl = append(tl, fmt.Sprintf("%d:%s/%d", it.Seq, it.Type, it.LinkedSeq))
	}
	want := []string{"0:case.opened/0", "1:recording.made/0", "2:recording.linked/0", "3:inspection.recorded/0", "4:recording.made/2", "5:recording.made/0"}
	if fmt.Sprint(tl) != fmt.Sprint(want) {
		t.Errorf("timeline = %v, want %v", tl, want)
	}
	if v.Entries != 5 || v.LastSeq != 5 {
		t.Errorf("entries %d, last seq %d: a linked recording is not one of the case's entries", v.Entries, v.LastSeq)
	}
}
