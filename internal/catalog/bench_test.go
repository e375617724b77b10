package catalog

import (
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/jsonview"
)

// BenchmarkValidate: one realistic record (an inspection with two officers
// and one media item), as the API checks every record it is sent.
func BenchmarkValidate(b *testing.B) {
	raw := `{"id":"0193f0a2-7c1e-7b3a-9d55-000000000001","type":"inspection.recorded","case_id":"0193f09e-1111-7000-8000-000000000001","occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-0001","seq":1},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"},{"id":"O-0031","cert_no":"14050020190031","name":"李某"}],"data":{"document_no":"晋市城管检字〔2020〕第1号","findings":"当事人在迎泽大街人行道上摆摊设点，占道经营，影响通行。"},"media":[{"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":104857600,"content_type":"video/mp4"}]}`
	rec, err := jsonview.Parse([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2020, 5, 12, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(rec, now, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
