package console

import (
	"slices"
	"testing"
	"time"

	"github.com/liuhen/liuhen/ledger"
)

// TestDeviceSeqs checks the device page's gap bookkeeping on device.seq
// values arriving in and out of order.
func TestDeviceSeqs(t *testing.T) {
	for _, tt := range []struct {
		name       string
		seqs       []int64
		gaps       []span
		missing    int64
		outOfOrder int
		noSeq      int
	}{
		{"dense", []int64{1, 2, 3}, nil, 0, 0, 0},
		{"one gap", []int64{1, 2, 5}, []span{{3, 4}}, 2, 0, 0},
		{"gap filled late", []int64{1, 2, 5, 3, 4}, []span{}, 0, 2, 0},
		{"filled in the middle", []int64{1, 6, 3}, []span{{2, 2}, {4, 5}}, 3, 1, 0},
		{"repeat and lower", []int64{1, 2, 5, 3, 7, 0, 4, 4}, []span{{6, 6}}, 1, 4, 0},
		{"below the first", []int64{10, 7}, []span{{8, 9}}, 2, 1, 0},
		{"no seq", []int64{-1, 1, -1}, nil, 0, 0, 2},
	} {
		ix := newLedgerIndex(nil, time.UTC, 24*time.Hour)
		now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
		for i, n := range tt.seqs {
			ix.device(&ledger.Entry{Seq: uint64(i), DeviceID: "D", DeviceSeq: n, RecordedAt: now, Type: "inspection.recorded"}, now, nil)
		}
		d := ix.devices["D"]
		if !slices.Equal(d.Gaps, tt.gaps) ||
			d.Missing != tt.missing || d.OutOfOrder != tt.outOfOrder || d.NoSeq != tt.noSeq {
			t.Errorf("%s: device seqs %v: gaps %v missing %d out of order %d without seq %d; want %v %d %d %d",
				tt.name, tt.seqs, d.Gaps, d.Missing, d.OutOfOrder, d.NoSeq, tt.gaps, tt.missing, tt.outOfOrder, tt.noSeq)
		}
	}
}

func TestLateUploads(t *testing.T) {
	ix := newLedgerIndex(nil, time.UTC, 24*time.Hour)
	rec := time.Date(2026, 5, 3, 8, 0, 0, 0, time.UTC)
	for i, occurred := range []time.Time{rec.Add(-time.Hour), rec.Add(-24 * time.Hour), rec.Add(-25 * time.Hour), rec.Add(-72 * time.Hour)} {
		ix.device(&ledger.Entry{Seq: uint64(i), DeviceID: "D", DeviceSeq: int64(i), RecordedAt: rec}, occurred, nil)
	}
	if d := ix.devices["D"]; d.Late != 2 || d.MaxDelay != 72*time.Hour {
		t.Errorf("late uploads %d, longest %v; want 2 (more than 24 h), 72h", d.Late, d.MaxDelay)
	}
}
