package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const testOrigin = "liuhen.test/ledger"

var testSigner = func() *Signer {
	// A fixed key so that golden vectors are reproducible.
	s, err := NewSigner("PRIVATE+KEY+liuhen.test/ledger+9f6a8881+Ad/xswzTSFaO7BE0xp84TE6jh6O8wUZrn72kEObcjscE")
	if err != nil {
		panic(err)
	}
	return s
}()

// testConfig returns a Config on a fresh directory of fs (vfs.Default with a
// temp dir when fs is nil).
func testConfig(t testing.TB, fs vfs.FS) Config {
	t.Helper()
	dir := "ledger"
	if fs == nil {
		dir = t.TempDir() + "/ledger"
	}
	return Config{Dir: dir, Origin: testOrigin, Signer: testSigner, FS: fs}
}

// newTestLedger creates a ledger whose cleanup verifies it and closes it.
func newTestLedger(t testing.TB, cfg Config) *Ledger {
	t.Helper()
	l, err := Create(cfg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if l.Err() == nil {
			if _, err := l.Verify(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("cleanup Verify: %v", err)
			}
		}
		l.Close()
	})
	return l
}

// rec builds a valid record: i picks the id, c the case (-1 for none).
func rec(i, c int) []byte {
	caseID := ""
	if c >= 0 {
		caseID = fmt.Sprintf(`"case_id":"0193f09e-1111-7000-8000-%012d",`, c)
	}
	return []byte(fmt.Sprintf(`{"id":"0193f0a2-7c1e-7b3a-9d55-%012d","type":"inspection.recorded",%s"occurred_at":"2020-05-12T09:31:02+08:00","device":{"id":"ZFY-140500-0007","seq":%d},"officers":[{"id":"O-0012","cert_no":"14050020190012","name":"王某"}],"data":{"findings":"门前占道经营 <b>&</b>","n":%d}}`, i, caseID, i, i))
}

func mustAppend(t testing.TB, l *Ledger, recs ...[]byte) []Result {
	t.Helper()
	res, err := l.Append(context.Background(), recs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// fixedClock returns a clock that advances one millisecond per call.
func fixedClock() func() time.Time {
	t := time.Date(2020, 5, 12, 1, 31, 5, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Millisecond)
		return t
	}
}
