package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/ledger"
)

// server is a running `liuhen serve` process.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

func startServer(t *testing.T, bin, data string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "liuhen: serving "); ok {
				urls <- u
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case s.url = <-urls:
	case err := <-s.done:
		t.Fatalf("liuhen serve exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("liuhen serve did not start within 30s")
	}
	return s
}

type testWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("serve: %s", bytes.TrimSpace(b))
	return len(b), nil
}

func call(t *testing.T, method, url, token string, body []byte, ct string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestServeKillRestart builds the real binary, loads it from several
// devices, kills it with SIGKILL mid-load, restarts it, and checks that
// every acknowledged event is there and the ledger verifies; then stops it
// with SIGTERM and verifies the closed ledger directly.
func TestServeKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "liuhen")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	srv := startServer(t, bin, data)

	for _, f := range []string{"signing.key", "admin.token", "tokens.json"} {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
		}
	}
	if _, _, err := ledger.ReadVerifierKey(filepath.Join(data, "log.vkey")); err != nil {
		t.Errorf("log.vkey: %v", err)
	}
	ab, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	admin := strings.TrimSpace(string(ab))

	const devices = 4
	tokens := make([]string, devices)
	for i := range tokens {
		code, b, err := call(t, "POST", srv.url+"/v1/admin/tokens", admin,
			[]byte(fmt.Sprintf(`{"role":"device","device_id":"E2E-%d","name":"e2e %d"}`, i, i)), "application/json")
		if err != nil || code != 201 {
			t.Fatalf("create token: %d %s %v", code, b, err)
		}
		var tok struct{ Token string }
		json.Unmarshal(b, &tok)
		tokens[i] = tok.Token
	}

	// Load: each device posts batches of 1 to 16 records until the server
	// dies. Only records answered accepted or duplicate count as acknowledged.
	var mu sync.Mutex
	acked := map[string]bool{}
	var resent []byte
	var resentBy string
	enough, half := make(chan struct{}), make(chan struct{})
	var once, onceHalf sync.Once
	var wg sync.WaitGroup
	for i := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := caseGen{device: fmt.Sprintf("E2E-%d", i), officerA: "O-1", officerB: "O-2"}
			var seq int64
			for n := 0; n < 100000; n++ {
				var buf bytes.Buffer
				k := 1 + n%16
				for range k {
					g.next(&buf, &seq)
					buf.WriteByte('\n')
				}
				code, b, err := call(t, "POST", srv.url+"/v1/events", tokens[i], buf.Bytes(), "application/x-ndjson")
				if err != nil {
					return // the server was killed
				}
				if code != 200 {
					t.Errorf("POST = %d %s", code, b)
					return
				}
				var a struct{ Results []struct{ ID, Status string } }
				if err := json.Unmarshal(b, &a); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range a.Results {
					if r.Status == "accepted" || r.Status == "duplicate" {
						acked[r.ID] = true
					}
				}
				if resent == nil {
					resent = bytes.Clone(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0])
					resentBy = tokens[i]
				}
				if len(acked) >= 1500 {
					onceHalf.Do(func() { close(half) })
				}
				if len(acked) >= 3000 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	// Halfway, a backup through the real binary, the load going on: it
	// must hold every event acknowledged before it began.
	select {
	case <-half:
	case <-time.After(60 * time.Second):
		t.Fatal("the load did not reach 1500 acknowledged events in 60s")
	}
	mu.Lock()
	before := maps.Clone(acked)
	mu.Unlock()
	backupDir := filepath.Join(dir, "backup")
	if out, err := exec.Command(bin, "backup", "--server", srv.url, "--token", admin, "--key", filepath.Join(data, "log.vkey"),
		"--purpose", "e2e", "--out", backupDir).CombinedOutput(); err != nil {
		t.Fatalf("liuhen backup under load: %v\n%s", err, out)
	} else {
		t.Logf("%s", out)
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("the load did not reach 3000 acknowledged events in 60s")
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	wg.Wait()
	mu.Lock()
	t.Logf("%d events acknowledged before SIGKILL", len(acked))
	mu.Unlock()

	srv = startServer(t, bin, data)
	// Every acknowledged event is in the log.
	found := map[string]bool{}
	next := "0"
	for next != "" {
		req, _ := http.NewRequest("GET", srv.url+"/v1/events?limit=10000&from="+next, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 128<<10), 128<<10)
		for sc.Scan() {
			e, err := ledger.DecodeEntry(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			found[e.ID.String()] = true
		}
		resp.Body.Close()
		next = resp.Header.Get("Liuhen-Next")
	}
	missing := 0
	for id := range acked {
		if !found[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events are missing after SIGKILL and restart", missing, len(acked))
	}
	code, b, err := call(t, "GET", srv.url+"/v1/verify", admin, nil, "")
	if err != nil || code != 200 || !bytes.Contains(b, []byte(`"ok":true`)) {
		t.Fatalf("verify after restart: %d %s %v", code, b, err)
	}
	// Resubmitting an acknowledged record is a duplicate.
	code, b, _ = call(t, "POST", srv.url+"/v1/events", resentBy, resent, "application/json")
	if code != 200 || !bytes.Contains(b, []byte(`"status":"duplicate"`)) {
		t.Errorf("resubmission after restart: %d %s", code, b)
	}

	// Graceful stop, then Verify the closed ledger directly.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("liuhen serve after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("liuhen serve did not stop within 30s of SIGTERM")
	}
	signer, err := ledger.LoadSigner(filepath.Join(data, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: filepath.Join(data, "ledger"), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Size < uint64(len(acked)) || l.Checkpoint().Size != rep.Size {
		t.Errorf("after SIGTERM: size %d (acknowledged %d), checkpoint %d", rep.Size, len(acked), l.Checkpoint().Size)
	}

	// The backup holds every event acknowledged before it began, and is
	// a prefix of the log that went on, through the kill and the restart.
	bl, err := ledger.Open(ledger.Config{Dir: filepath.Join(backupDir, "ledger"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	for id := range before {
		if _, err := bl.SeqOf(uuid.MustParse(id)); err != nil {
			t.Fatalf("event %s, acknowledged before the backup began, is not in it: %v", id, err)
		}
	}
	bh := bl.Head()
	if root, err := l.RootAt(bh.Size); err != nil || root != bh.Root {
		t.Fatalf("the backup's root at %d is not the log's: %x %v", bh.Size, root, err)
	}
	t.Logf("the backup holds %d entries (%d acknowledged before it began), a prefix of the %d after the restart", bh.Size, len(before), rep.Size)
}
