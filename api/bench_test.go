package api

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/benchutil"
)

// BenchmarkPostEvents measures POST /v1/events through the handler (no
// network) over a real ledger: decode, ParseRecord, catalogue, append with
// fsync, answer. Reports records/s.
func BenchmarkPostEvents(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			f := newFixture(b)
			b.SetParallelism(32) // many devices waiting on group commits
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var body bytes.Buffer
					body.WriteByte('[')
					for i := range batch {
						if i > 0 {
							body.WriteByte(',')
						}
						body.WriteString(rec("inspection.recorded", "ZFY-1", nil))
					}
					body.WriteByte(']')
					r := httptest.NewRequest("POST", "/v1/events", &body)
					r.Header.Set("Authorization", "Bearer "+f.secrets["device"])
					w := httptest.NewRecorder()
					f.srv.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Fatal(w.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkExportBundle measures POST /v1/exports with format zip through
// the handler (no network) over a real ledger: a case of 500 entries is
// recorded (custody entry, fsync), each entry read with its inclusion
// proof, checked against the signed checkpoint, staged and packed. Reports
// case entries/s of wall time and CPU µs per case entry of the whole
// process (user+sys, less disturbed by other load than wall time).
func BenchmarkExportBundle(b *testing.B) {
	const entries = 500
	f := newFixture(b)
	const caseID = "0193f09e-1111-7000-8000-000000000042"
	for i := 0; i < entries; i += 100 {
		var body bytes.Buffer
		body.WriteByte('[')
		for j := range 100 {
			if j > 0 {
				body.WriteByte(',')
			}
			body.WriteString(rec("inspection.recorded", "ZFY-1", nil))
		}
		body.WriteByte(']')
		if w := f.post("device", body.String()); w.Code != 200 {
			b.Fatal(w.Body)
		}
	}
	reqBody := `{"purpose":"benchmark","case_id":"` + caseID + `","format":"zip"}`
	var bytesOut int
	cpu0, t0 := benchutil.CPUTime(), time.Now()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/exports", strings.NewReader(reqBody))
		r.Header.Set("Authorization", "Bearer "+f.secrets["auditor"])
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Body)
		}
		bytesOut = w.Body.Len()
	}
	cpu, el := benchutil.CPUTime()-cpu0, time.Since(t0)
	n := float64(b.N * entries)
	b.ReportMetric(n/el.Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "CPU-µs/entry")
	b.ReportMetric(float64(bytesOut), "bundle-bytes")
}

// BenchmarkSplitArray: framing a body of 100 realistic records (the load
// tool's batches) into records, before any of them is parsed.
func BenchmarkSplitArray(b *testing.B) {
	var body []byte
	body = append(body, '[')
	for i := range 100 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-000000000001","occurred_at":"2026-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-0001","seq":%d},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}],"data":{"findings":"当事人在人行道上摆摊经营水果，占用人行道约6平方米","note":"say \"hi\""}}`, i, i)...)
	}
	body = append(body, ']')
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		recs, err := splitArray(body, 1000)
		if err != nil || len(recs) != 100 {
			b.Fatal(len(recs), err)
		}
	}
}
