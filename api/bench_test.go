package api

import (
	"bytes"
	"net/http/httptest"
	"strconv"
	"testing"
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
