package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestCaseGenRecords holds the load tool's records, built by appending, to
// the same records written with fmt (as the tool wrote them before), over
// two and a half cases, and checks that each is a JSON object.
func TestCaseGenRecords(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 3, 9, 10, 4, 5, 0, loc)
	got := caseGen{device: "ZFY-140500-0007", officerA: "O-0012", officerB: "O-0031"}
	want := got
	for i := range 25 {
		if i%len(benchSteps) == 0 {
			got.caseID = uuid.Must(uuid.NewV7()).String()
			want.caseID = got.caseID
		}
		id := uuid.Must(uuid.NewV7()).String()
		seq := int64(1000 + i)
		at := now.Add(time.Duration(i) * time.Hour)
		var g, w bytes.Buffer
		got.write(&g, id, at, seq)
		want.writeFmt(&w, id, at, seq)
		if g.String() != w.String() {
			t.Fatalf("record %d:\n got  %s\n want %s", i, g.String(), w.String())
		}
		if !json.Valid(g.Bytes()) {
			t.Fatalf("record %d is not JSON: %s", i, g.String())
		}
	}
}

// writeFmt is caseGen.write as it was written with fmt.
func (g *caseGen) writeFmt(buf *bytes.Buffer, id string, now time.Time, seq int64) {
	typ := benchSteps[g.step]
	if g.step == 0 {
		g.cases++
	}
	g.step = (g.step + 1) % len(benchSteps)
	at := now.Format(time.RFC3339)
	fmt.Fprintf(buf, `{"id":%q,"type":%q,`, id, typ)
	if typ != "recording.made" {
		fmt.Fprintf(buf, `"case_id":%q,`, g.caseID)
	}
	fmt.Fprintf(buf, `"occurred_at":%q,"device":{"id":%q,"seq":%d},`, at, g.device, seq)
	fmt.Fprintf(buf, `"officers":[{"id":%q,"cert_no":"1405002019%s","name":"王某"},{"id":%q,"cert_no":"1405002019%s","name":"李某"}],`,
		g.officerA, g.officerA[2:], g.officerB, g.officerB[2:])
	docNo := fmt.Sprintf("晋市城管罚字〔2026〕第%d号", g.cases)
	buf.WriteString(benchData[typ])
	switch typ {
	case "recording.made":
		h := sha256.Sum256([]byte(g.caseID + g.device + strconv.FormatInt(seq, 10)))
		fmt.Fprintf(buf, `"data":{"started_at":%q,"ended_at":%q,"interruptions":[]},"media":[{"sha256":%q,"size":104857600,"content_type":"video/mp4"}]`,
			now.Add(-15*time.Minute).Format(time.RFC3339), at, hex.EncodeToString(h[:]))
	case "case.opened":
		fmt.Fprintf(buf, `"data":{"case_number":"晋市城管立字〔2026〕第%d号","procedure":"general","category":"street_vending","parties":[{"kind":"person","name":"张某"}],"approved_by":"O-0001"}`, g.cases)
	case "decision.made":
		fmt.Fprintf(buf, `"data":{"outcome":"penalty","penalties":["fine"],"fine_fen":20000,"legal_basis":["《城市市容和环境卫生管理条例》第三十六条"],"document_no":%q,"major":false}`, docNo)
	case "payment.received":
		fmt.Fprintf(buf, `"data":{"amount_fen":20000,"receipt_no":"R%d"}`, seq)
	}
	buf.WriteByte('}')
}

// BenchmarkCaseGen: the load tool's record generator, by appending and with
// fmt (writeFmt).
func BenchmarkCaseGen(b *testing.B) {
	now := time.Now()
	for _, c := range []struct {
		name  string
		write func(*caseGen, *bytes.Buffer, string, time.Time, int64)
	}{{"append", (*caseGen).write}, {"fmt", (*caseGen).writeFmt}} {
		b.Run(c.name, func(b *testing.B) {
			g := caseGen{device: "ZFY-140500-0007", officerA: "O-0012", officerB: "O-0031", caseID: uuid.NewString()}
			id := uuid.NewString()
			var buf bytes.Buffer
			for i := 0; b.Loop(); i++ {
				buf.Reset()
				c.write(&g, &buf, id, now, int64(i))
			}
		})
	}
}
