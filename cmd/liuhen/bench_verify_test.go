package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/benchutil"
)

// benchEntries is the ledger size of the verify benchmarks:
// LIUHEN_BENCH_ENTRIES, default 100,000.
func benchEntries(b *testing.B) int {
	if v := os.Getenv("LIUHEN_BENCH_ENTRIES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100000
}

// waitRelay polls the server's status until the JetStream relay has
// published n entries, so that it does not compete with what is measured.
func waitRelay(b *testing.B, s *testServer, n int) {
	c, _ := (&clientOptions{server: s.url, token: s.adminToken()}).client()
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var st struct {
			Publisher struct{ Position uint64 }
		}
		if err := c.getJSON(context.Background(), "/v1/status", &st); err == nil && st.Publisher.Position >= uint64(n) {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
	}
	b.Fatal("the relay did not catch up")
}

// BenchmarkVerifyOnline measures liuhen verify against a real server over
// loopback (docs/performance.md, section CLI): "ndjson" only reads every
// page of GET /v1/events, the rate the endpoint allows; "verify" is the
// whole command. cpu-µs/entry is the process's CPU (server and client).
func BenchmarkVerifyOnline(b *testing.B) {
	n := benchEntries(b)
	data := buildLedger(b, n, 400)
	s := mustServer(b, data)
	defer s.stop()
	waitRelay(b, s, n)
	c, _ := (&clientOptions{server: s.url, token: s.adminToken()}).client()
	b.Run("ndjson", func(b *testing.B) {
		cpu := benchutil.CPUTime().Seconds()
		for range b.N {
			if err := pipePages(context.Background(), c, 0, uint64(n), io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
		b.ReportMetric((benchutil.CPUTime().Seconds()-cpu)*1e6/float64(b.N*n), "cpu-µs/entry")
	})
	b.Run("verify", func(b *testing.B) {
		cpu := benchutil.CPUTime().Seconds()
		for range b.N {
			if code, out, errs := cli("verify", "--server", s.url, "--token", s.adminToken(), "--key", filepath.Join(data, "log.vkey")); code != 0 {
				b.Fatalf("%d %s %s", code, out, errs)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
		b.ReportMetric((benchutil.CPUTime().Seconds()-cpu)*1e6/float64(b.N*n), "cpu-µs/entry")
	})
}
