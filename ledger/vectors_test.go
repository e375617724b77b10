package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

var update = flag.Bool("update", false, "rewrite the golden test vectors in testdata/vectors")

const vectorsDir = "testdata/vectors"

// vectorRecords are the records behind the golden vectors: three cases (a
// general-procedure fine, a simple-procedure fine, a seizure) and a
// body-camera recording made before its case was known, later linked.
func vectorRecords() [][]byte {
	const (
		caseA = "0193f09e-1111-7000-8000-00000000000a"
		caseB = "0193f09e-1111-7000-8000-00000000000b"
		caseC = "0193f09e-1111-7000-8000-00000000000c"
	)
	officers := `[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}]`
	n := 0
	r := func(typ, caseID, at, data string, extra ...string) []byte {
		n++
		c := ""
		if caseID != "" {
			c = `"case_id":"` + caseID + `",`
		}
		return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":%q,%s"occurred_at":%q,"device":{"id":"ZFY-140500-0007","seq":%d},"officers":%s,"data":%s%s}`,
			n, typ, c, at, 1800+n, officers, data, strings.Join(extra, "")))
	}
	media := `,"media":[{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":104857600,"content_type":"video/mp4","started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00"}]`
	return [][]byte{
		r("recording.made", "", "2020-05-12T09:28:40+08:00", `{"started_at":"2020-05-12T09:28:40+08:00","ended_at":"2020-05-12T09:44:10+08:00","interruptions":[]}`, media),
		r("case.registered", caseA, "2020-05-12T09:50:00+08:00", `{"source":"patrol","summary":"迎泽大街占道经营"}`),
		r("case.opened", caseA, "2020-05-12T15:00:00+08:00", `{"case_number":"晋市城管罚字〔2020〕第101号","procedure":"general","category":"street_vending","parties":[{"kind":"person","name":"张三","id_number":"140105199001011234"}],"approved_by":"O-0001"}`),
		r("recording.linked", caseA, "2020-05-12T15:05:00+08:00", `{"case_id":"`+caseA+`","events":["0193f0a2-7c1e-7b3a-9d55-000000000001"]}`),
		r("inspection.recorded", caseA, "2020-05-13T09:31:02+08:00", `{"document_no":"晋市城管检字〔2020〕第112号","findings":"占用人行道摆摊"}`),
		r("evidence.collected", caseA, "2020-05-13T09:40:00+08:00", `{"kind":"photo","description":"现场照片 3 张"}`),
		r("case.registered", caseB, "2020-05-14T10:00:00+08:00", `{"source":"complaint","summary":"随地乱扔垃圾"}`),
		r("case.opened", caseB, "2020-05-14T10:05:00+08:00", `{"case_number":"晋市城管简字〔2020〕第7号","procedure":"simple","category":"spitting_littering","parties":[{"kind":"person","name":"李四"}],"approved_by":"O-0001"}`),
		r("decision.made", caseB, "2020-05-14T10:10:00+08:00", `{"outcome":"penalty","penalties":["fine"],"fine_fen":5000,"legal_basis":["《太原市市容和环境卫生管理条例》第十八条"],"document_no":"晋市城管简罚〔2020〕第7号","major":false}`),
		r("payment.received", caseB, "2020-05-14T10:30:00+08:00", `{"amount_fen":5000,"receipt_no":"FS-2020-000777"}`),
		r("notice.served", caseA, "2020-05-20T09:00:00+08:00", `{"intended":{"penalties":["fine"],"fine_fen":200000},"hearing_right":false,"method":"direct"}`),
		r("statement.waived", caseA, "2020-05-20T09:10:00+08:00", `{}`),
		r("case.registered", caseC, "2020-06-01T08:00:00+08:00", `{"source":"hotline","summary":"12345 举报建筑垃圾偷倒"}`),
		r("case.opened", caseC, "2020-06-01T11:00:00+08:00", `{"case_number":"晋市城管罚字〔2020〕第140号","procedure":"general","category":"construction_waste","parties":[{"kind":"org","name":"某某运输有限公司"}],"approved_by":"O-0001"}`),
		r("measure.imposed", caseC, "2020-06-01T14:00:00+08:00", `{"kind":"seize","items":["渣土车 晋A·12345"],"term_days":30,"emergency":false,"approved_by":"O-0001"}`, media),
		r("decision.made", caseA, "2020-05-28T10:00:00+08:00", `{"outcome":"penalty","penalties":["fine"],"fine_fen":200000,"legal_basis":["《城市市容和环境卫生管理条例》第三十六条"],"document_no":"晋市城管罚决字〔2020〕第101号","major":false}`),
		r("document.served", caseA, "2020-05-29T09:00:00+08:00", `{"document":"decision","method":"direct","recipient":"张三"}`),
		r("decision.published", caseA, "2020-06-02T09:00:00+08:00", `{"document_no":"晋市城管罚决字〔2020〕第101号","channel":"门户网站"}`),
		r("measure.released", caseC, "2020-06-20T09:00:00+08:00", `{"reason":"作出处理决定"}`),
		r("payment.received", caseA, "2020-06-05T11:00:00+08:00", `{"amount_fen":200000,"receipt_no":"FS-2020-001234"}`),
		r("case.closed", caseB, "2020-05-15T09:00:00+08:00", `{"reason":"执行完毕"}`),
		r("case.closed", caseA, "2020-06-10T09:00:00+08:00", `{"reason":"执行完毕"}`),
		r("case.archived", caseA, "2020-06-30T09:00:00+08:00", `{"archive_no":"2020-WS-0101","retention":"30y"}`),
	}
}

// generateVectors builds the vector ledger on a fixed clock and key.
func generateVectors(t *testing.T) (entries [][]byte, checkpoint []byte) {
	cfg := testConfig(t, nil)
	clock := time.Date(2020, 7, 1, 2, 0, 0, 0, time.UTC)
	cfg.Now = func() time.Time { clock = clock.Add(1500 * time.Microsecond); return clock }
	l := newTestLedger(t, cfg)
	for _, r := range vectorRecords() { // one at a time: one commit each
		if res := mustAppend(t, l, r); res[0].Status != Accepted {
			t.Fatalf("vector record %s: %v %v", r, res[0].Status, res[0].Err)
		}
	}
	for _, b := range l.Entries(0) {
		entries = append(entries, bytes.Clone(b))
	}
	cp, err := l.CheckpointCovering(context.Background(), l.Head().Size)
	if err != nil {
		t.Fatal(err)
	}
	return entries, cp.Note
}

// TestGoldenVectors regenerates the vectors and fails if the format drifted.
// Run with -update to rewrite them after a deliberate format change.
func TestGoldenVectors(t *testing.T) {
	entries, cp := generateVectors(t)
	jsonl := append(bytes.Join(entries, []byte("\n")), '\n')
	files := map[string][]byte{
		"entries.jsonl":  jsonl,
		"checkpoint.txt": cp,
		"log.vkey":       []byte(testSigner.VKey + "\n"),
	}
	for name, want := range files {
		p := filepath.Join(vectorsDir, name)
		if *update {
			if err := os.MkdirAll(vectorsDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./ledger -run TestGoldenVectors -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the ledger format drifted from the golden vectors.\nregenerated:\n%s\ncommitted:\n%s", name, want, got)
		}
	}
}

// TestVectorsVerifyByHand checks the committed vectors the way
// docs/format.md tells an auditor to: SHA-256, a JSON parser and RFC 6962,
// with nothing from this package but the reference MTH.
func TestVectorsVerifyByHand(t *testing.T) {
	f, err := os.Open(filepath.Join(vectorsDir, "entries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var leaves []Hash
	prev := strings.Repeat("0", 64)
	casePrev := map[string]string{}
	caseSeq := map[string]uint64{}
	cases := map[string]bool{}
	noCase := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e struct {
			V        int    `json:"v"`
			Seq      uint64 `json:"seq"`
			Prev     string `json:"prev"`
			CaseID   string `json:"case_id"`
			CaseSeq  uint64 `json:"case_seq"`
			CasePrev string `json:"case_prev"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		if e.V != 1 || e.Seq != uint64(len(leaves)) || e.Prev != prev {
			t.Fatalf("entry %d: v %d seq %d prev %s, want v 1 seq %d prev %s", len(leaves), e.V, e.Seq, e.Prev, len(leaves), prev)
		}
		if e.CaseID == "" {
			noCase++
		} else {
			cases[e.CaseID] = true
			want := casePrev[e.CaseID]
			if want == "" {
				want = strings.Repeat("0", 64)
			}
			if e.CaseSeq != caseSeq[e.CaseID]+1 || e.CasePrev != want {
				t.Fatalf("entry %d: case chain broken", e.Seq)
			}
		}
		leaf := sha256Leaf(line)
		leaves = append(leaves, leaf)
		prev = hex.EncodeToString(leaf[:])
		if e.CaseID != "" {
			casePrev[e.CaseID], caseSeq[e.CaseID] = prev, e.CaseSeq
		}
	}
	if len(leaves) < 20 || len(cases) < 3 || noCase == 0 {
		t.Fatalf("vectors have %d entries, %d cases, %d without a case; want at least 20, 3, 1", len(leaves), len(cases), noCase)
	}
	vk, err := os.ReadFile(filepath.Join(vectorsDir, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vk)))
	if err != nil {
		t.Fatal(err)
	}
	cpb, err := os.ReadFile(filepath.Join(vectorsDir, "checkpoint.txt"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cpb, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint signature: %v", err)
	}
	root := mth(leaves)
	want := fmt.Sprintf("%s\n%d\n%s\n", testOrigin, len(leaves), b64(root[:]))
	if n.Text != want {
		t.Fatalf("checkpoint body %q, want %q", n.Text, want)
	}
}
