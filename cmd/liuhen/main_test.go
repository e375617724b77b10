package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
