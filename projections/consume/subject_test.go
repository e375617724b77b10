package consume

import (
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/internal/natsrv"
	"github.com/liuhen/liuhen/ledger"
)

// TestSubjectMatches holds the allocation-free subject check to
// natsrv.Layout.EventSubject.
func TestSubjectMatches(t *testing.T) {
	lay := natsrv.NewLayout("liuhen.test/consume")
	c := uuid.MustParse("0193f09e-1111-7000-8000-00000000000a")
	for _, tc := range []struct {
		typ string
		c   uuid.UUID
	}{
		{"inspection.recorded", c},
		{"inspection.recorded", uuid.Nil},
		{"a.b.c", c},
		{"a.b.c.d", uuid.Nil},
		{"case.opened", c},
	} {
		e := &ledger.Entry{Type: tc.typ, CaseID: tc.c}
		subject := lay.EventSubject(tc.typ, tc.c)
		if !subjectMatches(subject, e) {
			t.Errorf("subjectMatches(%q, %s %s) = false, want true", subject, tc.typ, tc.c)
		}
		for _, other := range []string{
			lay.EventSubject(tc.typ+"x", tc.c),
			lay.EventSubject("x"+tc.typ, tc.c),
			lay.EventSubject(tc.typ, uuid.MustParse("0193f09e-1111-7000-8000-00000000000b")),
			lay.EventSubject("inspection.made", tc.c),
			"events." + natsrv.TypeTokens(tc.typ) + "." + natsrv.CaseToken(tc.c),
			"x.event." + natsrv.TypeTokens(tc.typ) + "." + natsrv.CaseToken(tc.c),
			natsrv.CaseToken(tc.c),
			"",
		} {
			if other != subject && subjectMatches(other, e) {
				t.Errorf("subjectMatches(%q, %s %s) = true, want false", other, tc.typ, tc.c)
			}
		}
	}
}

func TestHexAndDecimalEqual(t *testing.T) {
	h := ledger.LeafHash([]byte("x"))
	if !hexEqual(ledger.Hex(h), h) || hexEqual(ledger.Hex(h)[1:]+"0", h) || hexEqual("", h) {
		t.Error("hexEqual")
	}
	for _, n := range []uint64{0, 9, 10, 12345678901234567890} {
		if !decimalEqual(fmtU(n), n) || decimalEqual(fmtU(n)+"0", n) || decimalEqual("0"+fmtU(n), n) {
			t.Errorf("decimalEqual(%d)", n)
		}
	}
}

func fmtU(n uint64) string { return fmt.Sprint(n) }
