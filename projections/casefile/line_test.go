package casefile

import (
	"reflect"
	"testing"
	"time"
)

func TestLineEncoding(t *testing.T) {
	opened := time.Date(2020, 5, 12, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	closed := time.Date(2020, 7, 2, 2, 0, 0, 123, time.UTC)
	for _, l := range []*line{
		{Summary: Summary{CaseID: "0193f09e-1111-7000-8000-00000000000a", Officers: []string{}, FirstAt: opened}},
		{
			Summary: Summary{CaseID: "0193f09e-1111-7000-8000-00000000000b", CaseNumber: "晋市城管立字〔2020〕第1号",
				Category: "street_vending", Procedure: "general", Stage: "调查取证", Status: StatusClosed,
				FirstSeq: 7, LastSeq: 1 << 40, Entries: 12, OpenedAt: &opened, FirstAt: opened.Add(-time.Hour),
				ClosedAt: &closed, FineFen: 100000, PaidFen: -5, Officers: []string{"O-0012", "14050020190012"}},
			Refs:  []officerKey{{"O-0012", "14050020190012"}, {"", "140500"}},
			Fines: []fine{{100000, true}, {0, false}},
		},
	} {
		b, err := encodeLine(l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeLine(b)
		if err != nil {
			t.Fatalf("decodeLine(encodeLine(%+v)) = %v", l, err)
		}
		if !reflect.DeepEqual(got, l) {
			t.Errorf("decodeLine(encodeLine(x)) = %+v, want %+v", got, l)
		}
		for i := range b {
			if _, err := decodeLine(b[:i]); err == nil {
				t.Errorf("decodeLine(%d of %d bytes) = nil error", i, len(b))
			}
		}
	}
}

// FuzzDecodeLine: bad input is an error, never a panic, and what decodes
// encodes to the same bytes.
func FuzzDecodeLine(f *testing.F) {
	t0 := time.Date(2020, 5, 12, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	b, _ := encodeLine(&line{Summary: Summary{CaseID: "0193f09e-1111-7000-8000-00000000000a", Officers: []string{"a"}, FirstAt: t0, OpenedAt: &t0},
		Refs: []officerKey{{"a", ""}}, Fines: []fine{{3, true}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLine(b)
		if err != nil {
			return
		}
		again, err := encodeLine(l)
		if err != nil {
			t.Fatalf("encodeLine(decodeLine(%x)) = %v", b, err)
		}
		if string(again) != string(b) {
			t.Fatalf("encodeLine(decodeLine(%x)) = %x", b, again)
		}
	})
}
