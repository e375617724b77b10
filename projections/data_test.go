package projections_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
)

// The kinds of struct the projections decode record data into: tagged
// and untagged names, strings, integers, booleans, pointers, slices, raw
// values, a time.
type dataFlat struct {
	CaseNumber string `json:"case_number"`
	Procedure  string
	Category   string `json:"category,omitempty"`
	FineFen    int64  `json:"fine_fen"`
	Days       int32  `json:"term_days"`
	Appeared   bool   `json:"responsible_person_appeared"`
	Result     string
}

type dataMixed struct {
	Outcome     string            `json:"outcome"`
	Penalties   []string          `json:"penalties"`
	LegalBasis  []json.RawMessage `json:"legal_basis"`
	Parties     []json.RawMessage `json:"parties"`
	DecisionSeq *uint64           `json:"decision_seq"`
	DocumentNo  string            `json:"document_no"`
	AmountFen   int64             `json:"amount_fen"`
	Summary     string
}

type dataUnplanned struct { // the plan leaves these to encoding/json/v2
	N    int64  `json:"n,string"`
	Skip string `json:"-"`
}

// dataNested has what the compliance rules read: a nested object, arrays
// of objects and of strings, pointers, unsigned integers, a type with its
// own text decoding.
type dataNested struct {
	Intended struct {
		Penalties []string `json:"penalties"`
		FineFen   int64    `json:"fine_fen"`
	} `json:"intended"`
	Parties []struct {
		Kind  string `json:"kind"`
		Minor *bool  `json:"minor"`
		Age   *int   `json:"age"`
	} `json:"parties"`
	Events  []string  `json:"events"`
	Seq     uint32    `json:"seq"`
	Ref     *uint64   `json:"ref"`
	Refs    []*int8   `json:"refs"`
	Matrix  [][]int   `json:"matrix"`
	Code    textCode  `json:"code"`
	CodeP   *textCode `json:"code_p"`
	Codes   []textCode
	Outcome string `json:"outcome"`
}

// textCode decodes itself from text: the plan leaves it to encoding/json/v2.
type textCode string

func (c *textCode) UnmarshalText(b []byte) error { *c = textCode("code:" + string(b)); return nil }

func newData() []any { return []any{&dataFlat{}, &dataMixed{}, &dataUnplanned{}, &dataNested{}} }

// checkData decodes e's data into each kind of struct with DecodeData and
// with encoding/json/v2 alone, and wants the same value and, if strict, the
// same success. Otherwise DecodeData may read data that encoding/json/v2
// rejects (a duplicate or invalid UTF-8 in a member it skips, which a
// canonical record cannot hold), never the reverse.
func checkData(t *testing.T, e *projections.Entry, strict bool) (fast int) {
	t.Helper()
	for i, v := range newData() {
		ref := newData()[i]
		rerr := projections.DecodeDataFull(e, ref)
		err := e.DecodeData(v)
		if (err == nil) != (rerr == nil) && (strict || err != nil) {
			t.Fatalf("%s: DecodeData(%T) = %v, encoding/json/v2: %v", e.Data, v, err, rerr)
		}
		if err == nil && rerr == nil && !reflect.DeepEqual(v, ref) {
			t.Fatalf("%s: DecodeData(%T) = %+v, encoding/json/v2: %+v", e.Data, v, v, ref)
		}
		if projections.DecodeDataFast(e, newData()[i]) {
			fast++
		}
	}
	return fast
}

// TestDecodeDataFast: on every entry of a synthetic year DecodeData's
// answer is encoding/json/v2's, and the plan decodes most of them itself.
func TestDecodeDataFast(t *testing.T) {
	l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 3, Cases: 60, Spill: true}))
	fast, all := 0, 0
	for _, raw := range l.Entries(0) {
		le, err := ledger.ScanEntry(append([]byte(nil), raw...))
		if err != nil {
			t.Fatal(err)
		}
		e, err := projections.Decode(le)
		if err != nil {
			t.Fatal(err)
		}
		fast += checkData(t, e, true)
		all += 3 // dataUnplanned never has a plan
	}
	if fast < all*9/10 {
		t.Errorf("the plan decoded %d of %d plannable data objects", fast, all)
	}
}

// FuzzDecodeData: whatever the data object, DecodeData agrees with
// encoding/json/v2.
func FuzzDecodeData(f *testing.F) {
	for _, s := range []string{
		`{"case_number":"城管罚〔2020〕1号","procedure":"general","category":"dust","fine_fen":5000,"term_days":30}`,
		`{"Procedure":"general","procedure":"simple"}`,
		`{"PROCEDURE":"general"}`,
		`{"procedure":"gen\u0065ral","fine_fen":-12,"responsible_person_appeared":true}`,
		`{"fine_fen":1e3}`, `{"fine_fen":1.0}`, `{"fine_fen":-0}`, `{"fine_fen":"5"}`, `{"fine_fen":null}`,
		`{"term_days":9999999999}`, `{"fine_fen":123456789012345678901}`,
		`{"responsible_person_appeared":null}`, `{"responsible_person_appeared":1}`,
		`{"outcome":"penalty","penalties":["fine","warning"],"legal_basis":[{"law":"x","article":"1"}],"decision_seq":17}`,
		`{"decision_seq":null,"penalties":null,"parties":[{"name":"王某","kind":"person"}]}`,
		`{"decision_seq":-1}`, `{"penalties":"fine"}`, `{"summary":"a\"b","Summary":"c"}`,
		`{"n":"12","skip":"x"}`, `{"case_number":"a","case_number":"b"}`, `{"case\u005fnumber":"a"}`,
		`{"intended":{"penalties":["fine"],"fine_fen":5000},"parties":[{"kind":"person","minor":true,"age":16},{"kind":"org"}],"events":["a","b"]}`,
		`{"intended":null,"parties":[],"events":[],"seq":4294967296,"ref":18446744073709551615,"refs":[1,null,-128,128]}`,
		`{"intended":{"fine_fen":1,"FINE_FEN":2},"parties":[null,{"minor":null,"age":"1"}],"matrix":[[1,2],[],null]}`,
		`{"code":"x","codes":["a","b"],"events":[1],"parties":{"kind":"x"},"seq":-1}`, `{"code_p":"y","ref":3}`, `{"code_p":null}`,
		`{"intended":{"penalties":["a"]},"intended":{"fine_fen":3}}`, `{"parties":[{"kind":"a","kind":"b"}]}`,
		` { "result" : "granted" } `, `{"result":"granted"} x`, `{}`, `null`, `[]`, `"x"`, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		checkData(t, &projections.Entry{Entry: &ledger.Entry{}, Data: b}, false)
	})
}
