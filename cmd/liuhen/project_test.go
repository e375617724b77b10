package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liuhen/liuhen/internal/demo"
)

// A testProject is liuhen project running in this process.
type testProject struct {
	url    string
	cancel context.CancelFunc
	done   chan int
	stderr syncBuffer
}

func startTestProject(t *testing.T, flags ...string) *testProject {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &testProject{cancel: cancel, done: make(chan int, 1)}
	urls := make(chan string, 1)
	out := &lineWriter{fn: func(l string) {
		if u, ok := strings.CutPrefix(l, "liuhen project: serving "); ok {
			urls <- u
		}
	}}
	args := append([]string{"project", "--http", "127.0.0.1:0", "--log-level", "warn"}, flags...)
	go func() { p.done <- run(ctx, args, out, &p.stderr) }()
	select {
	case p.url = <-urls:
	case code := <-p.done:
		cancel()
		t.Fatalf("liuhen project exited %d: %s", code, p.stderr.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("liuhen project did not start: %s", p.stderr.String())
	}
	t.Cleanup(func() { p.stop() })
	return p
}

// stop stops liuhen project gracefully; stopping twice is harmless.
func (p *testProject) stop() int {
	p.cancel()
	code := <-p.done
	p.done <- code
	return code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// getJSON GETs url with token and decodes the answer; it fails the test
// unless the status is want.
func getJSON(t *testing.T, url, token string, want int) any {
	t.Helper()
	code, body, err := call(t, "GET", url, token, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("GET %s = %d %s, want %d", url, code, body, want)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

// strip removes, at any depth, the members that legitimately differ
// between liuhen serve and liuhen project: as_of (the time of reading and
// the root), checkpoint (serve's ledger signs the head; project reads the
// checkpoints stream) and present (serve has the media store).
func strip(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range []string{"as_of", "checkpoint", "present"} {
			delete(v, k)
		}
		for k := range v {
			v[k] = strip(v[k])
		}
	case []any:
		for i := range v {
			v[i] = strip(v[i])
		}
	}
	return v
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type projectStatusAnswer struct {
	Stores []struct {
		Build    string `json:"build"`
		Size     uint64 `json:"size"`
		Building string `json:"building"`
	} `json:"stores"`
	Stream uint64 `json:"stream"`
	Lag    uint64 `json:"lag"`
}

func (p *testProject) status(t *testing.T, token string) projectStatusAnswer {
	t.Helper()
	var st projectStatusAnswer
	b, _ := json.Marshal(getJSON(t, p.url+"/v1/status", token, 200))
	json.Unmarshal(b, &st)
	return st
}

// TestProjectServesWhatServeServes: liuhen serve with its NATS server on a
// loopback listener holds a year of cases; liuhen project, a separate
// process in all but name, follows the same streams into its own data
// directory and answers every read endpoint as serve does. Then its store
// is rebuilt online, refused an offline drop while running, dropped once
// stopped, and rebuilt on the next start, answering the same each time.
func TestProjectServesWhatServeServes(t *testing.T) {
	const agency = "晋城市城市管理局"
	natsAddr := freeAddr(t)
	data := t.TempDir()
	s, err := startTestServer(t, data, "--nats-listen", natsAddr, "--agency", agency)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	admin := s.adminToken()
	var recs [][]byte
	for _, r := range demo.Generate(demo.Options{Seed: 3, Year: 2025, Cases: 30}).Records {
		recs = append(recs, r.Raw)
	}
	post(t, s, recs)
	var size uint64
	waitFor(t, "serve's projections", func() bool {
		var st struct {
			Size        uint64                       `json:"size"`
			Projections map[string]map[string]uint64 `json:"projections"`
		}
		b, _ := json.Marshal(getJSON(t, s.url+"/v1/status", admin, 200))
		json.Unmarshal(b, &st)
		size = st.Size
		for _, p := range st.Projections {
			if p["position"] != st.Size {
				return false
			}
		}
		return len(st.Projections) > 0
	})

	token := "project-test-token-0123456789abcdef"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pdata := t.TempDir()
	flags := []string{"--nats", "nats://" + natsAddr, "--data", pdata, "--token-file", tokenFile,
		"--key", filepath.Join(data, "log.vkey"), "--agency", agency}
	p := startTestProject(t, flags...)
	caughtUp := func(build string) func() bool {
		return func() bool {
			st := p.status(t, token)
			return st.Stream == size && st.Lag == 0 && st.Stores[0].Size == size && st.Stores[0].Build == build && st.Stores[0].Building == ""
		}
	}
	waitFor(t, "liuhen project to catch up", caughtUp("b000001"))

	same := func(path string) any {
		t.Helper()
		want := strip(getJSON(t, s.url+path, admin, 200))
		got := strip(getJSON(t, p.url+path, token, 200))
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Fatalf("GET %s:\nliuhen project: %.2000s\nliuhen serve:   %.2000s", path, gb, wb)
		}
		return got
	}
	compareAll := func() {
		t.Helper()
		list := same("/v1/cases?limit=500").(map[string]any)["cases"].([]any)
		if len(list) != 30 {
			t.Fatalf("%d cases listed, want 30", len(list))
		}
		for _, c := range list {
			id := c.(map[string]any)["case_id"].(string)
			same("/v1/cases/" + id)
			same("/v1/cases/" + id + "/findings")
		}
		same("/v1/reports/annual?year=2025")
		for _, f := range []string{"decisions.penalty", "fines_decided_fen", "publications_on_time", "court_enforcement.pending"} {
			same("/v1/reports/annual/" + f + "?year=2025")
		}
		same("/v1/public/decisions?limit=500")
		same("/v1/findings?limit=500")
	}
	compareAll()

	// The report states the signed checkpoint covering it, read from the
	// checkpoints stream and verified with the log's key.
	rep := getJSON(t, p.url+"/v1/reports/annual?year=2025", token, 200).(map[string]any)
	asOf := rep["as_of"].(map[string]any)
	cp, _ := rep["checkpoint"].(map[string]any)
	if asOf["size"] != float64(size) || cp == nil || cp["size"].(float64) < float64(size) || !strings.Contains(cp["note"].(string), "\n"+strconv.FormatUint(uint64(cp["size"].(float64)), 10)+"\n") {
		t.Errorf("report as_of %v, checkpoint %v: want size %d and a signed checkpoint covering it", asOf, cp, size)
	}
	if root, ok := asOf["root"]; ok && cp["size"].(float64) != float64(size) {
		t.Errorf("as_of.root %v given without a checkpoint of size %d", root, size)
	}

	// Tokens: the read endpoints need one, the public feed does not.
	for _, path := range []string{"/v1/cases", "/v1/reports/annual", "/v1/status"} {
		getJSON(t, p.url+path, "", http.StatusUnauthorized)
		getJSON(t, p.url+path, "wrong-token-0123456789abcdef", http.StatusUnauthorized)
	}
	getJSON(t, p.url+"/v1/public/decisions", "", 200)

	// Online rebuild: b000002 reads the stream from the start and takes over.
	if code, out, errs := cli("project", "rebuild", "report", "--url", p.url, "--token-file", tokenFile); code != 0 {
		t.Fatalf("project rebuild --url = %d %s %s", code, out, errs)
	}
	waitFor(t, "the online rebuild", caughtUp("b000002"))
	compareAll()

	// Offline: refused while the store is open, done once stopped.
	if code, _, errs := cli("project", "rebuild", "casefile", "--data", pdata); code != 1 || !strings.Contains(errs, "in use") {
		t.Fatalf("project rebuild --data while running = %d %s, want 1 and 'in use'", code, errs)
	}
	if code := p.stop(); code != 0 {
		t.Fatalf("liuhen project exited %d: %s", code, p.stderr.String())
	}
	if code, out, errs := cli("project", "rebuild", "casefile", "--data", pdata); code != 0 || !strings.Contains(out, "dropped store read") {
		t.Fatalf("project rebuild --data = %d %s %s", code, out, errs)
	}
	p = startTestProject(t, flags...)
	waitFor(t, "the rebuild after the drop", caughtUp("b000001"))
	compareAll()
}

// TestProjectRefuses: no open read endpoints off loopback, no stream, no
// foreign key.
func TestProjectRefuses(t *testing.T) {
	natsAddr := freeAddr(t)
	data := t.TempDir()
	s, err := startTestServer(t, data, "--nats-listen", natsAddr, "--no-projections")
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	nats := "nats://" + natsAddr
	other := filepath.Join(t.TempDir(), "other.vkey")
	if code, out, errs := cli("keygen", "--origin", "liuhen.test/other", "--out", filepath.Join(t.TempDir(), "other.key"), "--vkey", other); code != 0 {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nats", nats, "--http", "0.0.0.0:0"}, "not a loopback address"},
		{[]string{"--nats", nats, "--events-stream", "NOPE"}, "no stream NOPE"},
		{[]string{"--nats", nats, "--key", other}, "verifier key of"},
		{[]string{"--nats", nats, "--consumer", "a.b"}, "-consumer"},
		{[]string{}, "usage: liuhen project"},
	} {
		code, _, errs := cli(append(append([]string{"project", "--data", t.TempDir()}, tc.args...), "--log-level", "error")...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("liuhen project %v = %d %q, want an error with %q", tc.args, code, errs, tc.want)
		}
	}
	if code, _, errs := cli("project", "rebuild", "read", "--data", t.TempDir()); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("project rebuild of a missing store = %d %s", code, errs)
	}
}
