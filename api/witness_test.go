package api

import (
	"sync/atomic"
	"testing"
)

// TestWitnessedCheckpoint: GET /v1/checkpoint/witnessed serves what the
// witness submitter holds, to anyone; 503 before the first, 404 without a
// policy.
func TestWitnessedCheckpoint(t *testing.T) {
	var held atomic.Pointer[[]byte]
	f := newFixture(t, func(c *Config) {
		c.Witnessed = func() []byte {
			if p := held.Load(); p != nil {
				return *p
			}
			return nil
		}
	})
	if w := f.do(req{method: "GET", path: "/v1/checkpoint/witnessed"}); w.Code != 503 || problemCode(t, w) != CodeUnavailable {
		t.Fatalf("before the first: %d %s", w.Code, w.Body)
	}
	note := []byte("liuhen.test/api\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— liuhen.test/api AAAA\n— witness.test/w0 BBBB\n")
	held.Store(&note)
	w := f.do(req{method: "GET", path: "/v1/checkpoint/witnessed"})
	if w.Code != 200 || w.Body.String() != string(note) {
		t.Fatalf("witnessed: %d %q", w.Code, w.Body)
	}
	g := newFixture(t)
	if w := g.do(req{method: "GET", path: "/v1/checkpoint/witnessed"}); w.Code != 404 || problemCode(t, w) != CodeNotFound {
		t.Fatalf("without a policy: %d %s", w.Code, w.Body)
	}
}
