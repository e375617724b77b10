package projections_test

import (
	"reflect"
	"testing"

	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/projections"
	"github.com/liuhen/liuhen/projections/internal/projtest"
	"github.com/liuhen/liuhen/projections/internal/synth"
)

// TestDecodeScanner: on every entry of a synthetic year the scanner's
// answer is encoding/json/v2's.
func TestDecodeScanner(t *testing.T) {
	l := projtest.Ledger(t, synth.Year(synth.Options{Seed: 2, Cases: 60, Spill: true}))
	for seq, raw := range l.Entries(0) {
		e, err := ledger.ScanEntry(append([]byte(nil), raw...))
		if err != nil {
			t.Fatal(err)
		}
		fast, err := projections.DecodeFast(e)
		if err != nil {
			t.Fatalf("DecodeFast(entry %d) = %v", seq, err)
		}
		full, err := projections.DecodeFull(e)
		if err != nil {
			t.Fatalf("DecodeFull(entry %d) = %v", seq, err)
		}
		if !reflect.DeepEqual(full, fast) {
			t.Fatalf("entry %d: DecodeFast = %+v, DecodeFull = %+v", seq, fast, full)
		}
	}
}

// FuzzDecode: whatever the bytes, Decode does not panic, and where both the
// scanner and encoding/json/v2 read them they agree.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"seq":0,"occurred_at":"2020-05-12T09:31:02+08:00","officers":[{"id":"O-1","name":"王某"}],"data":{"a":[1,{"b":"}"}]},"type":"x.y"}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","media":[{"sha256":"ab","size":3}],"data":null}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","data":{"s":"\"{[\\"}}`,
		`{"occurred\u005fat":"2020-05-12T09:31:02Z"}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","occurred_at":"2021-05-12T09:31:02Z"}`,
		` { "occurred_at" : "2020-05-12T09:31:02+08:00" , "officers" : null } `,
		`{"occurred_at":"2020-05-12T09:31:02Z"} x`,
		`{"occurred_at":"2020-05-12T09:31:02Z","officers":{"id":1}}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","Officers":[{"id":"O-1"}]}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","officers":[{"ID":"O-1","Name":"x"}]}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","officers":[{"id":"O-1","id":"O-2"}]}`,
		`{"occurred_at":"2020-05-12T09:31:02Z","officers":[{"id":"O-\u0031"},{"name":null}]}`,
		`{"OCCURRED_AT":"2020-05-12T09:31:02Z","DATA":{}}`,
		`{"media":[{"content_type":"video/mp4","sha256":"ab","size":10,"started_at":"x"},{"sha256":"cd","size":-3,"Size":4}],"occurred_at":"2020-05-12T09:31:02Z"}`,
		`{"media":[{"sha256":"ab","size":1e3}],"occurred_at":"2020-05-12T09:31:02Z"}`,
		`{"media":[{"sha256":"ab","size":-0}],"occurred_at":"2020-05-12T09:31:02Z"}`,
		`{"media":null,"officers":[],"occurred_at":"2020-05-12T09:31:02Z"}`,
		`[]`, `{`, `{"data":`, `{"a":"\`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &ledger.Entry{Bytes: b}
		got, gerr := projections.Decode(e)
		full, ferr := projections.DecodeFull(e)
		if (gerr == nil) != (ferr == nil) {
			// The scanner may read bytes the full decoder rejects (it
			// does not validate what it skips), never the reverse.
			if gerr != nil {
				t.Fatalf("Decode(%q) = %v, DecodeFull = nil", b, gerr)
			}
			return
		}
		if gerr == nil {
			if !reflect.DeepEqual(full, got) {
				t.Fatalf("Decode(%q) = %+v, DecodeFull = %+v", b, got, full)
			}
		}
	})
}
