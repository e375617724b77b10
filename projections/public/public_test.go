package public_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/public"
)

func TestMaskName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"王建国", "王某"}, {"李四", "李某"}, {"欧阳娜娜", "欧阳某"}, {"司马光", "司马某"}, {"王某", "王某"},
		{"john smith", "J某"}, {"", ""}, {" 张三 ", "张某"},
	} {
		if got := public.MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactText(t *testing.T) {
	in := "张三丰（身份证140502198001011234，电话13812345678，座机0356-2021234，账户6222 0212 3456 7890 123）住城区某路8号，于门前占道经营"
	got := public.RedactText(in, []string{"张三丰"}, []string{"城区某路8号"})
	for _, leak := range []string{"张三丰", "140502198001011234", "13812345678", "0356-2021234", "6222", "城区某路8号"} {
		if strings.Contains(got, leak) {
			t.Errorf("RedactText leaves %q in %q", leak, got)
		}
	}
	if !strings.Contains(got, "张某") || !strings.Contains(got, "占道经营") {
		t.Errorf("RedactText = %q: lost the facts", got)
	}
}

var n int

func rec(typ, c, at, data string) []byte {
	n++
	return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":%q,"case_id":%q,"occurred_at":%q,"device":{"id":"D"},"data":%s}`, n, typ, c, at, data))
}

func kase(i int, who, party string) [][]byte {
	c := fmt.Sprintf("0193f09e-1111-7000-8000-%012d", i)
	return [][]byte{
		rec("case.opened", c, "2020-05-12T10:00:00+08:00", fmt.Sprintf(`{"case_number":"晋市城管立字〔2020〕第%d号","procedure":"general","category":"street_vending","parties":[%s],"approved_by":"O-1"}`, i, party)),
		rec("investigation.concluded", c, "2020-05-20T10:00:00+08:00", fmt.Sprintf(`{"summary":"经查，%s（电话13812345678）于城区某路8号门前占道经营"}`, who)),
		rec("decision.made", c, "2020-06-01T10:00:00+08:00", fmt.Sprintf(`{"outcome":"penalty","penalties":["fine"],"fine_fen":20000,"legal_basis":["《城市市容和环境卫生管理条例》第三十六条",{"law":"行政处罚法","article":"第二十八条"}],"document_no":"罚字%d","major":false}`, i)),
		rec("decision.published", c, "2020-06-03T10:00:00+08:00", fmt.Sprintf(`{"document_no":"罚字%d","channel":"门户网站"}`, i)),
	}
}

func TestFeed(t *testing.T) {
	n = 0
	var recs [][]byte
	recs = append(recs, kase(1, "张三丰", `{"kind":"person","name":"张三丰","id_number":"140502198001011234","address":"城区某路8号","phone":"13812345678","bank_account":"6222021234567890123"}`)...)
	recs = append(recs, kase(2, "该公司", `{"kind":"org","name":"晋城市某某建筑有限公司","id_number":"91140500MA0XXXXX12","address":"城区某路8号"}`)...)
	recs = append(recs, kase(3, "李小明", `{"kind":"person","name":"李小明","id_number":"140502201001011234"}`)...) // 10 years old in 2020
	recs = append(recs, kase(4, "赵六", `{"kind":"person","name":"赵六","minor":true}`)...)
	recs = append(recs, kase(5, "孙七", `{"kind":"person","name":"孙七","address":"城区某路8号"}`)...)
	c5 := "0193f09e-1111-7000-8000-000000000005"
	l := projtest.Ledger(t, recs)
	st := projtest.Build(t, l, public.New(public.Config{Agency: "晋城市城市管理局"}))
	srv := httptest.NewServer(public.Handler(st))
	defer srv.Close()

	feed := func() (public.Page, string) {
		resp, err := http.Get(srv.URL + "/v1/public/decisions")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw json.RawMessage
		json.NewDecoder(resp.Body).Decode(&raw)
		var p public.Page
		json.Unmarshal(raw, &p)
		return p, string(raw)
	}
	p, raw := feed()
	// Minors (by ID number and by flag) never appear; newest first.
	var cases []string
	for _, d := range p.Decisions {
		cases = append(cases, d.CaseNumber)
	}
	if got, want := fmt.Sprint(cases), "[晋市城管立字〔2020〕第5号 晋市城管立字〔2020〕第2号 晋市城管立字〔2020〕第1号]"; got != want {
		t.Fatalf("feed cases = %s, want %s", got, want)
	}
	for _, leak := range []string{"张三丰", "140502198001011234", "13812345678", "城区某路8号", "6222021234567890123", "李小明", "赵六", "91140500MA0XXXXX12", "开发区1号", "孙七", "城区某路8号"} {
		if strings.Contains(raw, leak) {
			t.Errorf("feed leaks %q: %s", leak, raw)
		}
	}
	d1 := p.Decisions[2]
	if d1.Parties[0].Name != "张某" || d1.Agency != "晋城市城市管理局" || d1.FineFen != 20000 || d1.DocumentNo != "罚字1" ||
		d1.Decision.Seq != 2 || len(d1.Decision.Hash) != 64 || d1.Publication.Seq != 3 || !strings.Contains(d1.Facts, "占道经营") ||
		len(d1.LegalBasis) != 2 || d1.LegalBasis[1] != "行政处罚法 第二十八条" {
		t.Errorf("disclosure 1 = %+v", d1)
	}
	if p.Decisions[1].Parties[0].Name != "晋城市某某建筑有限公司" {
		t.Errorf("organisation name = %q, want kept", p.Decisions[1].Parties[0].Name)
	}
	// The hash is the leaf hash of the entry at that seq.
	if h, _ := l.LeafHashAt(d1.Publication.Seq); fmt.Sprintf("%x", h[:]) != d1.Publication.Hash {
		t.Errorf("publication hash %s, ledger has %x", d1.Publication.Hash, h[:])
	}
	// A withdrawal removes the case's publication as soon as it is applied.
	projtest.Append(t, l, [][]byte{rec("publication.withdrawn", c5, "2020-07-01T10:00:00+08:00", `{"reason":"复议撤销"}`)})
	if err := st.Wait(t.Context(), l.Head().Size); err != nil {
		t.Fatal(err)
	}
	p, _ = feed()
	if len(p.Decisions) != 2 || p.Size != l.Head().Size {
		t.Errorf("after withdrawal: %d decisions at size %d, want 2 at %d", len(p.Decisions), p.Size, l.Head().Size)
	}
	for _, d := range p.Decisions {
		if strings.HasSuffix(d.CaseNumber, "第5号") {
			t.Errorf("withdrawn decision still served: %+v", d)
		}
	}
	resp, _ := http.Get(srv.URL + "/v1/public/decisions?limit=0")
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("limit=0: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp.Body.Close()
}
