package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/liuhen/liuhen/internal/jsonview"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2020, 5, 12, 1, 40, 0, 0, time.UTC) // 09:40 +08:00

const (
	testCase  = "0193f09e-1111-7000-8000-000000000042"
	testEvent = "0193f0a2-7c1e-7b3a-9d55-2f0c8e1a4b61"
	testHash  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

// minimalData is the smallest valid data object of every type, written out
// by hand from EVENTS.md so that a mistake in the spec table shows up here.
var minimalData = map[string]string{
	"case.registered":                `{"source":"hotline","summary":"占道经营"}`,
	"case.opened":                    `{"case_number":"晋市城管立字〔2020〕第1号","procedure":"general","category":"street_vending","parties":[{"kind":"person","name":"张某"}],"approved_by":"O-0001"}`,
	"inspection.recorded":            `{"findings":"在人行道摆摊"}`,
	"inquiry.recorded":               `{"person":"张某"}`,
	"evidence.collected":             `{"kind":"photo","description":"现场照片"}`,
	"evidence.preserved":             `{"items":["三轮车一辆"],"approved_by":"O-0001"}`,
	"evidence.preservation_resolved": `{"outcome":"returned"}`,
	"measure.imposed":                `{"kind":"seize","items":[{"name":"三轮车","count":1}],"term_days":30,"emergency":false,"approved_by":"O-0001"}`,
	"measure.extended":               `{"extra_days":30,"approved_by":"O-0001","reason":"案情复杂"}`,
	"case.extended":                  `{"extra_days":30,"approved_by":"O-0001","reason":"案情复杂，需鉴定"}`,
	"measure.released":               `{"reason":"期限届满"}`,
	"order.issued":                   `{"deadline":"2020-05-19"}`,
	"investigation.concluded":        `{"summary":"事实清楚"}`,
	"review.completed":               `{"reviewer":"O-0099","result":"approved"}`,
	"discussion.held":                `{"attendees":["O-0001","O-0002"],"conclusion":"同意处罚"}`,
	"notice.served":                  `{"intended":{"penalties":["fine"],"fine_fen":20000},"hearing_right":false,"method":"direct"}`,
	"statement.recorded":             `{"summary":"无异议"}`,
	"statement.waived":               `{}`,
	"hearing.requested":              `{}`,
	"hearing.notified":               `{"hearing_at":"2020-05-20T09:00:00+08:00"}`,
	"hearing.held":                   `{"chair":"O-0077"}`,
	"decision.made":                  `{"outcome":"penalty","penalties":["warning","fine"],"fine_fen":20000,"legal_basis":["城市市容和环境卫生管理条例 第三十六条"],"document_no":"晋市城管罚字〔2020〕第9号","major":false}`,
	"document.served":                `{"document":"decision","method":"left","recipient":"张某"}`,
	"decision.published":             `{"document_no":"晋市城管罚字〔2020〕第9号","channel":"www.jcs.gov.cn"}`,
	"publication.withdrawn":          `{"reason":"复议撤销"}`,
	"payment.received":               `{"amount_fen":20000,"receipt_no":"R-1"}`,
	"payment.deferred":               `{"until":"2020-08-01T00:00:00+08:00","approved_by":"O-0001"}`,
	"reminder.served":                `{"deadline":"2020-06-30"}`,
	"enforcement.applied":            `{"court":"晋城市城区人民法院"}`,
	"enforcement.ruled":              `{"result":"granted"}`,
	"enforcement.executed":           `{"kind":"demolition","emergency":false}`,
	"case.closed":                    `{"reason":"执行完毕"}`,
	"case.archived":                  `{"archive_no":"20200001","retention":"permanent"}`,
	"reconsideration.filed":          `{"body":"晋城市人民政府"}`,
	"reconsideration.decided":        `{"result":"upheld"}`,
	"lawsuit.filed":                  `{"court":"晋城市城区人民法院"}`,
	"lawsuit.heard":                  `{"responsible_person_appeared":true,"appeared":{"name":"赵某","post":"局长"}}`,
	"lawsuit.judged":                 `{"result":"驳回诉讼请求"}`,
	"recording.made":                 `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[{"from":"2020-05-12T09:30:00+08:00","to":"2020-05-12T09:31:00+08:00","reason":"电量低更换电池"}]}`,
	"recording.linked":               `{"case_id":"` + testCase + `","events":["` + testEvent + `"]}`,
	"custody.accessed":               `{"actor":"O-0099","purpose":"复议举证","media":["` + testHash + `"]}`,
	"device.clock_observed":          `{"device_time":"2020-05-12T09:31:02+08:00","server_time":"2020-05-12T09:31:05+08:00","offset_ms":-3000}`,
}

func decode(tb testing.TB, s string) map[string]any {
	tb.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// record returns a valid record of type typ with the given data.
func record(tb testing.TB, typ, data string) map[string]any {
	tb.Helper()
	return decode(tb, `{"id":"`+testEvent+`","type":"`+typ+`","case_id":"`+testCase+`",
		"occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-0007","seq":1832},
		"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"}],
		"data":`+data+`,
		"media":[{"sha256":"`+testHash+`","size":104857600,"content_type":"video/mp4"}]}`)
}

func minimal(tb testing.TB, typ string) map[string]any {
	tb.Helper()
	d, ok := minimalData[typ]
	if !ok {
		tb.Fatalf("no minimal data for %s", typ)
	}
	return record(tb, typ, d)
}

// view is rec as the API checks it: its JSON, read in place.
func view(tb testing.TB, rec map[string]any) jsonview.Value {
	tb.Helper()
	v, err := jsonview.Parse([]byte(show(rec)))
	if err != nil {
		tb.Fatalf("%s: %v", show(rec), err)
	}
	return v
}

func show(rec map[string]any) string {
	b, _ := json.Marshal(rec)
	return string(b)
}

func codeOf(e *Error) string {
	if e == nil {
		return "nil"
	}
	return e.Code + " " + e.Field
}

func TestMinimalRecords(t *testing.T) {
	if len(minimalData) != len(Types()) {
		t.Errorf("minimalData has %d types, catalogue %d", len(minimalData), len(Types()))
	}
	for _, typ := range Types() {
		rec := minimal(t, typ.Name)
		if err := Validate(view(t, rec), testNow, Options{}); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", show(rec), err)
		}
	}
}

// requiredPaths lists every required field inside v (the minimal data) as
// a path with the parent object that holds it, following the spec into
// objects and the first element of arrays.
type hole struct {
	path   string
	parent map[string]any
	name   string
}

// join is the path of member name under parent, written out here
// independently of how Validate builds its paths.
func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func requiredPaths(obj map[string]any, path string, fs []Field) []hole {
	var hs []hole
	for _, f := range fs {
		p := join(path, f.Name)
		if f.Required {
			hs = append(hs, hole{p, obj, f.Name})
		}
		switch v := obj[f.Name].(type) {
		case map[string]any:
			if f.Kind == KindObject {
				hs = append(hs, requiredPaths(v, p, f.Fields)...)
			}
		case []any:
			if f.Kind == KindArray && f.Elem.Kind == KindObject && len(v) > 0 {
				hs = append(hs, requiredPaths(v[0].(map[string]any), p+"[0]", f.Elem.Fields)...)
			}
		}
	}
	return hs
}

func TestMissingField(t *testing.T) {
	for _, typ := range Types() {
		n := len(requiredPaths(minimal(t, typ.Name)["data"].(map[string]any), "data", typ.Fields))
		for i := range n {
			rec := minimal(t, typ.Name)
			h := requiredPaths(rec["data"].(map[string]any), "data", typ.Fields)[i]
			delete(h.parent, h.name)
			err := Validate(view(t, rec), testNow, Options{})
			if got, want := codeOf(err), CodeMissingField+" "+h.path; got != want {
				t.Errorf("Validate(%s) = %v, want %s", show(rec), err, want)
			}
		}
	}
}

// wrongType returns a value of a JSON type that kind k never accepts.
func wrongType(k Kind) any {
	switch k {
	case KindString, KindTime, KindDate, KindEnum, KindUUID, KindSHA256, KindStringOrObject:
		return json.Number("1")
	case KindBool:
		return "true"
	case KindInt, KindFen:
		return "1200"
	case KindObject:
		return []any{}
	case KindArray:
		return map[string]any{}
	}
	panic(k)
}

func TestWrongType(t *testing.T) {
	for _, typ := range Types() {
		for _, f := range typ.Fields {
			rec := minimal(t, typ.Name)
			rec["data"].(map[string]any)[f.Name] = wrongType(f.Kind)
			want := CodeInvalidField
			if f.Kind == KindFen {
				want = CodeMoneyNotFen
			}
			want += " data." + f.Name
			if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != want {
				t.Errorf("Validate(%s) = %s, want %s", show(rec), got, want)
			}
		}
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		typ, data, want string
	}{
		{"case.registered", `{"source":"rumour","summary":"x"}`, "invalid_field data.source"},
		{"case.registered", `{"source":"patrol","summary":"  "}`, "invalid_field data.summary"},
		{"case.opened", `{"case_number":"1","procedure":"general","category":"street_vending","parties":[{"kind":"alien","name":"x"}],"approved_by":"O"}`, "invalid_field data.parties[0].kind"},
		{"case.opened", `{"case_number":"1","procedure":"general","category":"street_vending","parties":[],"approved_by":"O"}`, "invalid_field data.parties"},
		{"case.opened", `{"case_number":"1","procedure":"summary","category":"street_vending","parties":[{"kind":"org","name":"x"}],"approved_by":"O"}`, "invalid_field data.procedure"},
		{"case.opened", `{"case_number":"1","procedure":"simple","category":"noise","parties":[{"kind":"org","name":"x"}],"approved_by":"O"}`, "invalid_field data.category"},
		{"case.opened", `{"case_number":"1","procedure":"simple","category":"dust","parties":[{"kind":"org","name":"x","id_number":7}],"approved_by":"O"}`, "invalid_field data.parties[0].id_number"},
		{"case.opened", `{"case_number":"1","procedure":"simple","category":"dust","parties":[{"kind":"org","name":"x"}],"approved_by":"O","violation_at":"2020-05-12"}`, "invalid_field data.violation_at"},
		{"case.opened", `{"case_number":"1","procedure":"simple","category":"dust","parties":[{"kind":"org","name":"x"}],"approved_by":"O","violation_at":"2020-05-12T09:00:00+08:00"}`, "nil"},
		{"inspection.recorded", `{"findings":"x","document_no":""}`, "invalid_field data.document_no"},
		{"measure.imposed", `{"kind":"seize","items":["x"],"term_days":0,"emergency":false,"approved_by":"O"}`, "invalid_field data.term_days"},
		{"measure.imposed", `{"kind":"seize","items":["x"],"term_days":30.5,"emergency":false,"approved_by":"O"}`, "invalid_field data.term_days"},
		{"measure.imposed", `{"kind":"seize","items":[null],"term_days":30,"emergency":false,"approved_by":"O"}`, "invalid_field data.items[0]"},
		{"order.issued", `{"deadline":"2020-13-01"}`, "invalid_field data.deadline"},
		{"order.issued", `{"deadline":"2020-05-19T18:00:00"}`, "invalid_field data.deadline"},
		{"order.issued", `{"deadline":"2020-05-19T18:00:00Z"}`, "nil"},
		{"notice.served", `{"intended":{"penalties":["flogging"],"fine_fen":0},"hearing_right":true,"method":"direct"}`, "invalid_field data.intended.penalties[0]"},
		{"notice.served", `{"intended":{"penalties":[],"fine_fen":0},"hearing_right":true,"method":"fax"}`, "invalid_field data.method"},
		{"hearing.notified", `{"hearing_at":"tomorrow"}`, "invalid_field data.hearing_at"},
		{"decision.made", `{"outcome":"no_penalty","penalties":[],"fine_fen":0,"legal_basis":[{"law":"行政处罚法","article":33}],"document_no":"x","major":false}`, "nil"},
		{"decision.made", `{"outcome":"no_penalty","penalties":[],"fine_fen":0,"legal_basis":[],"document_no":"x","major":false}`, "invalid_field data.legal_basis"},
		{"decision.made", `{"outcome":"penalty","penalties":["fine"],"fine_fen":0,"confiscated_fen":"5","legal_basis":["x"],"document_no":"x","major":false}`, "money_not_fen data.confiscated_fen"},
		{"document.served", `{"document":"decision","method":"carrier_pigeon","recipient":"x"}`, "invalid_field data.method"},
		{"document.served", `{"document":"verdict","method":"mail","recipient":"x"}`, "invalid_field data.document"},
		{"decision.published", `{"decision_seq":12,"channel":"web"}`, "nil"},
		{"decision.published", `{"channel":"web"}`, "missing_field data.decision_seq"},
		{"decision.published", `{"decision_seq":-1,"channel":"web"}`, "invalid_field data.decision_seq"},
		{"enforcement.ruled", `{"result":"maybe"}`, "invalid_field data.result"},
		{"case.archived", `{"archive_no":"1","retention":"forever"}`, "invalid_field data.retention"},
		{"reconsideration.decided", `{"result":"confirmed_illegal"}`, "nil"},
		{"reconsideration.decided", `{"result":"annulled"}`, "invalid_field data.result"},
		{"recording.made", `{"started_at":"2020-05-12T09:44:10+08:00","ended_at":"2020-05-12T09:28:40+08:00","interruptions":[]}`, "invalid_field data.ended_at"},
		{"recording.made", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T01:44:10Z","interruptions":[]}`, "nil"},
		{"recording.made", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[{"from":"2020-05-12T09:31:00+08:00","to":"2020-05-12T09:30:00+08:00","reason":"x"}]}`, "invalid_field data.interruptions[0].to"},
		{"recording.made", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[{"from":"2020-05-12T09:20:00+08:00","to":"2020-05-12T09:30:00+08:00","reason":"x"}]}`, "invalid_field data.interruptions[0].from"},
		{"recording.made", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[{"from":"2020-05-12T09:40:00+08:00","to":"2020-05-12T09:50:00+08:00","reason":"x"}]}`, "invalid_field data.interruptions[0].to"},
		{"recording.made", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[{"from":"2020-05-12T09:30:00+08:00","reason":"x"}]}`, "missing_field data.interruptions[0].to"},
		{"recording.linked", `{"case_id":"0193f09e-1111-7000-8000-000000000043","events":["` + testEvent + `"]}`, "invalid_field data.case_id"},
		{"recording.linked", `{"case_id":"` + testCase + `","events":["not-a-uuid"]}`, "invalid_field data.events[0]"},
		{"recording.linked", `{"case_id":"` + testCase + `","events":[]}`, "invalid_field data.events"},
		{"custody.accessed", `{"actor":"O","purpose":"x","media":["9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"]}`, "invalid_field data.media[0]"},
		{"device.clock_observed", `{"device_time":"2020-05-12T09:31:02+08:00","server_time":"2020-05-12T09:31:05+08:00","offset_ms":1.5}`, "invalid_field data.offset_ms"},
	}
	for _, tt := range tests {
		rec := record(t, tt.typ, tt.data)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("Validate(%s) = %s, want %s", show(rec), got, tt.want)
		}
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		fine string
		want string
	}{
		{`0`, "nil"},
		{`20000`, "nil"},
		{`9223372036854775807`, "nil"},
		{`12.5`, "money_not_fen data.intended.fine_fen"},
		{`1e3`, "money_not_fen data.intended.fine_fen"},
		{`1000.0`, "money_not_fen data.intended.fine_fen"},
		{`"1200"`, "money_not_fen data.intended.fine_fen"},
		{`-1`, "money_not_fen data.intended.fine_fen"},
		{`9223372036854775808`, "money_not_fen data.intended.fine_fen"},
		{`true`, "money_not_fen data.intended.fine_fen"},
		{`null`, "money_not_fen data.intended.fine_fen"},
	}
	for _, tt := range tests {
		rec := record(t, "notice.served", `{"intended":{"penalties":["fine"],"fine_fen":`+tt.fine+`},"hearing_right":false,"method":"direct"}`)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("Validate(%s) = %s, want %s", show(rec), got, tt.want)
		}
	}

	// Any *_fen inside data counts, even in fields the catalogue does not know.
	nested := []struct {
		data, want string
	}{
		{`{"reason":"x","refund":{"items":[{"amount_fen":100}]}}`, "nil"},
		{`{"reason":"x","refund":{"items":[{"amount_fen":12.5}]}}`, "money_not_fen data.refund.items[0].amount_fen"},
		{`{"reason":"x","surcharge_fen":-5}`, "money_not_fen data.surcharge_fen"},
	}
	for _, tt := range nested {
		rec := record(t, "case.closed", tt.data)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("Validate(%s) = %s, want %s", show(rec), got, tt.want)
		}
	}
	// Outside data, *_fen is not ours to judge.
	rec := minimal(t, "case.closed")
	rec["extra_fen"] = "not money"
	if err := Validate(view(t, rec), testNow, Options{}); err != nil {
		t.Errorf("Validate(%s) = %v, want nil", show(rec), err)
	}
}

func TestMoneyForms(t *testing.T) {
	// The JSON number as sent decides: only a plain integer is fen.
	for _, tt := range []struct{ amount, want string }{
		{`20000`, "nil"},
		{`0`, "nil"},
		{`20000.0`, "money_not_fen data.amount_fen"},
		{`2e4`, "money_not_fen data.amount_fen"},
		{`12.5`, "money_not_fen data.amount_fen"},
		{`-1`, "money_not_fen data.amount_fen"},
		{`"20000"`, "money_not_fen data.amount_fen"},
		{`99999999999999999999`, "money_not_fen data.amount_fen"},
	} {
		// record decodes with UseNumber and show writes the number as sent.
		rec := record(t, "payment.received", `{"amount_fen":`+tt.amount+`,"receipt_no":"R-1"}`)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("Validate(amount_fen=%s) = %s, want %s", tt.amount, got, tt.want)
		}
	}
}

func TestOccurredAt(t *testing.T) {
	at := func(d time.Duration) string {
		return testNow.Add(d).In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339)
	}
	tests := []struct {
		occurred string
		tol      time.Duration
		want     string
	}{
		{at(-48 * time.Hour), 0, "nil"},
		{at(9 * time.Minute), 0, "nil"},
		{at(10 * time.Minute), 0, "nil"},
		{at(11 * time.Minute), 0, "occurred_in_future occurred_at"},
		{at(11 * time.Minute), 15 * time.Minute, "nil"},
		{at(16 * time.Minute), 15 * time.Minute, "occurred_in_future occurred_at"},
		{at(1 * time.Minute), time.Second, "occurred_in_future occurred_at"},
		{at(1 * time.Second), -time.Minute, "occurred_in_future occurred_at"},
		{"2020-05-12 09:31:02", 0, "invalid_field occurred_at"},
	}
	for _, tt := range tests {
		rec := minimal(t, "case.closed")
		rec["occurred_at"] = tt.occurred
		if got := codeOf(Validate(view(t, rec), testNow, Options{FutureTolerance: tt.tol})); got != tt.want {
			t.Errorf("Validate(occurred_at=%s, tolerance %v) = %s, want %s", tt.occurred, tt.tol, got, tt.want)
		}
	}
	rec := minimal(t, "case.closed")
	delete(rec, "occurred_at")
	if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != "missing_field occurred_at" {
		t.Errorf("Validate(no occurred_at) = %s, want missing_field occurred_at", got)
	}
}

func TestCaseID(t *testing.T) {
	for _, typ := range Types() {
		rec := minimal(t, typ.Name)
		delete(rec, "case_id")
		want := "nil"
		if typ.CaseRequired {
			want = "case_id_required case_id"
		}
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != want {
			t.Errorf("Validate(%s) = %s, want %s", show(rec), got, want)
		}
	}
	optional := map[string]bool{"recording.made": true, "custody.accessed": true, "device.clock_observed": true}
	for _, typ := range Types() {
		if typ.CaseRequired == optional[typ.Name] {
			t.Errorf("Lookup(%q).CaseRequired = %v, want %v", typ.Name, typ.CaseRequired, !optional[typ.Name])
		}
	}
	// Optional is not forbidden: a recording may already know its case.
	rec := minimal(t, "recording.made")
	if err := Validate(view(t, rec), testNow, Options{}); err != nil {
		t.Errorf("Validate(recording.made with case_id) = %v, want nil", err)
	}
	rec["case_id"] = 42
	if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != "invalid_field case_id" {
		t.Errorf("Validate(case_id=42) = %s, want invalid_field case_id", got)
	}
}

func TestEnvelopeExtras(t *testing.T) {
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"unknown type", func(r map[string]any) { r["type"] = "case.reopened" }, "unknown_type type"},
		{"data not object", func(r map[string]any) { r["data"] = []any{} }, "invalid_field data"},
		{"data missing", func(r map[string]any) { delete(r, "data") }, "missing_field data"},
		{"officers not array", func(r map[string]any) { r["officers"] = "王某" }, "invalid_field officers"},
		{"officer not object", func(r map[string]any) { r["officers"] = []any{"王某"} }, "invalid_field officers[0]"},
		{"media bad hash", func(r map[string]any) { r["media"] = []any{map[string]any{"sha256": "9f86d08"}} }, "invalid_field media[0].sha256"},
		{"media bad size", func(r map[string]any) {
			r["media"] = []any{map[string]any{"sha256": testHash, "size": json.Number("-1")}}
		}, "invalid_field media[0].size"},
		{"no officers or media", func(r map[string]any) { delete(r, "officers"); delete(r, "media") }, "nil"},
	}
	for _, tt := range tests {
		rec := minimal(t, "case.closed")
		tt.edit(rec)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("%s: Validate(%s) = %s, want %s", tt.name, show(rec), got, tt.want)
		}
	}
	for _, typ := range []string{"statement.waived", "hearing.requested"} {
		rec := minimal(t, typ)
		delete(rec, "data")
		if err := Validate(view(t, rec), testNow, Options{}); err != nil {
			t.Errorf("Validate(%s without data) = %v, want nil", typ, err)
		}
	}
	rec := minimal(t, "recording.made")
	delete(rec, "media")
	if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != "missing_field media" {
		t.Errorf("Validate(recording.made without media) = %s, want missing_field media", got)
	}
	rec["media"] = []any{}
	if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != "invalid_field media" {
		t.Errorf("Validate(recording.made with empty media) = %s, want invalid_field media", got)
	}
}

func TestUnknownFieldsAccepted(t *testing.T) {
	for _, typ := range Types() {
		rec := minimal(t, typ.Name)
		rec["x_vendor"] = map[string]any{"anything": []any{json.Number("1.5"), nil}}
		rec["device"].(map[string]any)["firmware"] = "3.1"
		rec["officers"].([]any)[0].(map[string]any)["role"] = "承办"
		data := rec["data"].(map[string]any)
		data["x_note"] = json.Number("12.5")
		data["x_nested"] = map[string]any{"deep": []any{map[string]any{"more": true}}}
		for _, f := range typ.Fields {
			switch v := data[f.Name].(type) {
			case map[string]any:
				v["x_inner"] = "extra"
			case []any:
				if len(v) > 0 {
					if m, ok := v[0].(map[string]any); ok {
						m["x_inner"] = []any{}
					}
				}
			}
		}
		if err := Validate(view(t, rec), testNow, Options{}); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", show(rec), err)
		}
	}
}

func TestCatalogue(t *testing.T) {
	ts := Types()
	// EVENTS.md's 41 types of v1, in its order, then the extensions.
	if len(ts) != 41+len(extensions) {
		t.Errorf("len(Types()) = %d, want 41 + %d", len(ts), len(extensions))
	}
	if ts[0].Name != "case.registered" || ts[40].Name != "device.clock_observed" {
		t.Errorf("Types() order = %s … %s, want case.registered … device.clock_observed", ts[0].Name, ts[40].Name)
	}
	for i, name := range extensions {
		if ts[41+i].Name != name {
			t.Errorf("Types()[%d] = %s, want the extension %s", 41+i, ts[41+i].Name, name)
		}
	}
	for _, typ := range ts {
		got, ok := Lookup(typ.Name)
		if !ok || got.Name != typ.Name || got.Chinese == "" || got.Stage == "" || got.Basis == "" {
			t.Errorf("Lookup(%q) = %+v, %v, want complete type", typ.Name, got, ok)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Errorf("Lookup(%q) ok = true, want false", "nope")
	}
	// Callers get copies.
	a, _ := Lookup("case.opened")
	a.Fields[0].Name = "mutated"
	a.Fields[3].Elem.Fields[0].Values[0].Code = "mutated"
	b, _ := Lookup("case.opened")
	if b.Fields[0].Name != "case_number" || b.Fields[3].Elem.Fields[0].Values[0].Code != PartyPerson {
		t.Errorf("Lookup returned shared state: %+v", b.Fields[:4])
	}
	if c := Categories(); len(c) != 10 || c[0] != (Value{CategoryStreetVending, "占道经营"}) {
		t.Errorf("Categories() = %v, want 10 starting with street_vending 占道经营", c)
	}
}

// extensions are the types added beyond catalogue v1 (docs/events.md §9).
var extensions = []string{"case.extended"}

// TestCaseExtended: 延长办案期限, an extension beyond v1, is validated like
// measure.extended: a case record with a whole number of extra days ≥ 1, the
// approver and the reason.
func TestCaseExtended(t *testing.T) {
	tests := []struct{ data, want string }{
		{`{"extra_days":30,"approved_by":"O-0001","reason":"需检测鉴定"}`, "nil"},
		{`{"extra_days":1,"approved_by":"O-0001","reason":"x","collective":true}`, "nil"},
		{`{"extra_days":0,"approved_by":"O-0001","reason":"x"}`, "invalid_field data.extra_days"},
		{`{"extra_days":-30,"approved_by":"O-0001","reason":"x"}`, "invalid_field data.extra_days"},
		{`{"extra_days":30.5,"approved_by":"O-0001","reason":"x"}`, "invalid_field data.extra_days"},
		{`{"extra_days":"30","approved_by":"O-0001","reason":"x"}`, "invalid_field data.extra_days"},
		{`{"approved_by":"O-0001","reason":"x"}`, "missing_field data.extra_days"},
		{`{"extra_days":30,"reason":"x"}`, "missing_field data.approved_by"},
		{`{"extra_days":30,"approved_by":"O-0001"}`, "missing_field data.reason"},
		{`{"extra_days":30,"approved_by":" ","reason":"x"}`, "invalid_field data.approved_by"},
	}
	for _, tt := range tests {
		rec := record(t, "case.extended", tt.data)
		if got := codeOf(Validate(view(t, rec), testNow, Options{})); got != tt.want {
			t.Errorf("Validate(%s) = %s, want %s", show(rec), got, tt.want)
		}
	}
	rec := minimal(t, "case.extended")
	delete(rec, "case_id")
	if got, want := codeOf(Validate(view(t, rec), testNow, Options{})), CodeCaseIDRequired+" case_id"; got != want {
		t.Errorf("Validate(%s) = %s, want %s", show(rec), got, want)
	}
	typ, ok := Lookup("case.extended")
	if !ok || typ.Chinese != "延长办案期限" || !typ.CaseRequired {
		t.Errorf("Lookup(case.extended) = %+v, %v", typ, ok)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{CodeMoneyNotFen, "data.fine_fen", "must be a non-negative integer number of fen"}
	if got, want := e.Error(), "catalog: money_not_fen: data.fine_fen: must be a non-negative integer number of fen"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func FuzzValidate(f *testing.F) {
	for typ := range minimalData {
		f.Add([]byte(show(minimal(f, typ))))
	}
	f.Add([]byte(`{"type":"recording.made","data":{"interruptions":[null,1,{"from":2}]}}`))
	f.Add([]byte(`{"type":"case.opened","data":{"parties":[[]],"x_fen":{}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var rec map[string]any
		if d.Decode(&rec) != nil {
			return
		}
		err := Validate(view(t, rec), testNow, Options{})
		if err != nil && err.Code == "" {
			t.Errorf("Validate(%q) = %v, want a code", b, err)
		}
		_ = fmt.Sprint(err)
	})
}
