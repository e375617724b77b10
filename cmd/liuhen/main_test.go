package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"serve", "-h"}, &out, &errb); code != 0 {
		t.Fatalf("serve -h exited %d", code)
	}
	for _, flag := range []string{"-data", "-http", "-origin", "-tls-cert", "-tls-key", "-key", "-max-request-bytes",
		"-max-records", "-future-tolerance", "-request-timeout", "-shutdown-timeout", "first start"} {
		if !strings.Contains(errb.String(), flag) {
			t.Errorf("serve -h does not mention %s", flag)
		}
	}
	errb.Reset()
	if code := run(context.Background(), []string{"bench", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-devices") {
		t.Errorf("bench -h: %d %s", code, errb.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown command exited %d, want 2", code)
	}
	if code := run(context.Background(), []string{"serve", "-nope"}, &out, &errb); code != 2 {
		t.Errorf("bad flag exited %d, want 2", code)
	}
}

// TestServeRefusesWrongOrigin: a restart with another -origin than the
// ledger's is refused, never silently accepted.
func TestServeRefusesWrongOrigin(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve starts, sees ctx done, shuts down cleanly
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"serve", "-data", data, "-http", "127.0.0.1:0", "-origin", "liuhen.test/a"}, &out, &errb); code != 0 {
		t.Fatalf("first start exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "admin token") || !strings.Contains(out.String(), "signing key") {
		t.Errorf("first start did not say what it created:\n%s", out.String())
	}
	errb.Reset()
	if code := run(ctx, []string{"serve", "-data", data, "-http", "127.0.0.1:0", "-origin", "liuhen.test/b"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "origin") {
		t.Errorf("restart with another origin: exit %d, %s", code, errb.String())
	}
}

// TestCalendarGaps: serve warns of the current year missing from the
// holiday calendar, and from November on of the next one.
func TestCalendarGaps(t *testing.T) {
	years := []int{2025, 2026}
	at := func(y int, m time.Month) time.Time { return time.Date(y, m, 8, 9, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		now  time.Time
		want []int
	}{
		{at(2026, time.June), nil},
		{at(2026, time.December), []int{2027}},
		{at(2027, time.January), []int{2027}},
		{at(2027, time.November), []int{2027, 2028}},
	} {
		got := calendarGaps(years, c.now)
		if len(got) != len(c.want) {
			t.Errorf("calendarGaps at %s = %q, want warnings for %v", c.now.Format("2006-01"), got, c.want)
			continue
		}
		for i, y := range c.want {
			if !strings.Contains(got[i], fmt.Sprintf("no notice for %d", y)) {
				t.Errorf("calendarGaps at %s: warning %d = %q, want one for %d", c.now.Format("2006-01"), i, got[i], y)
			}
		}
	}
}
