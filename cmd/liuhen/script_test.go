package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI's behaviour is specified by the scripts in testdata/script, run
// by testscript against real servers: each "server start NAME" runs liuhen
// serve in this process on a free loopback port over a fresh data directory
// (real Pebble, real embedded NATS), and "exec liuhen ..." runs the command
// as its own process, as a user would.

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"liuhen": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"server": cmdServer, "jsonvar": cmdJSONVar},
	})
}

// A testServer is liuhen serve running in this process.
type testServer struct {
	url, data string
	cancel    context.CancelFunc
	done      chan int
	stdout    syncBuffer // what serve printed

	stopOnce sync.Once
	code     int // serve's exit code, once stopped
}

var (
	serversMu sync.Mutex
	servers   = map[*testscript.TestScript]map[string]*testServer{}
)

// startTestServer runs liuhen serve over data with extra flags until the
// returned server is stopped.
func startTestServer(tb testing.TB, data string, flags ...string) (*testServer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	s := &testServer{data: data, cancel: cancel, done: make(chan int, 1)}
	out := &lineWriter{fn: func(l string) {
		s.stdout.Write([]byte(l + "\n"))
		if u, ok := strings.CutPrefix(l, "liuhen: serving "); ok {
			urls <- u
		}
	}}
	var errb syncBuffer
	args := append([]string{"serve", "--data", data, "--http", "127.0.0.1:0", "--log-level", "warn"}, flags...)
	go func() { s.done <- run(ctx, args, out, &errb) }()
	select {
	case s.url = <-urls:
		return s, nil
	case code := <-s.done:
		cancel()
		return nil, fmt.Errorf("liuhen serve exited %d: %s", code, errb.String())
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("liuhen serve did not start within 60s: %s", errb.String())
	}
}

// stop shuts the server down gracefully and waits for it. Stopping it
// again returns the same code.
func (s *testServer) stop() int {
	s.stopOnce.Do(func() {
		s.cancel()
		s.code = <-s.done
	})
	return s.code
}

func (s *testServer) adminToken() string {
	b, _ := os.ReadFile(filepath.Join(s.data, "admin.token"))
	return strings.TrimSpace(string(b))
}

// cmdServer: server start NAME [serve flags], server stop NAME. start sets
// LIUHEN_SERVER, LIUHEN_TOKEN (the admin token) and LIUHEN_KEY (log.vkey)
// for the commands that follow, and NAME_URL, NAME_ADMIN, NAME_KEY, NAME_DATA.
func cmdServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: server start|stop NAME [flags]")
	}
	serversMu.Lock()
	m := servers[ts]
	if m == nil {
		m = map[string]*testServer{}
		servers[ts] = m
	}
	serversMu.Unlock()
	name := args[1]
	switch args[0] {
	case "start":
		data := ts.MkAbs(name)
		s, err := startTestServer(nil, data, args[2:]...)
		ts.Check(err)
		serversMu.Lock()
		m[name] = s
		serversMu.Unlock()
		ts.Defer(func() { s.stop() })
		vkey := filepath.Join(data, "log.vkey")
		for k, v := range map[string]string{"LIUHEN_SERVER": s.url, "LIUHEN_TOKEN": s.adminToken(), "LIUHEN_KEY": vkey,
			name + "_URL": s.url, name + "_ADMIN": s.adminToken(), name + "_KEY": vkey, name + "_DATA": data} {
			ts.Setenv(k, v)
		}
	case "stop":
		serversMu.Lock()
		s := m[name]
		delete(m, name)
		serversMu.Unlock()
		if s == nil {
			ts.Fatalf("no server %s", name)
		}
		if code := s.stop(); code != 0 {
			ts.Fatalf("server %s exited %d", name, code)
		}
	default:
		ts.Fatalf("usage: server start|stop NAME [flags]")
	}
}

// lineWriter calls fn with every complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(b)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(b), nil
		}
		w.fn(strings.TrimSuffix(line, "\n"))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cmdJSONVar: jsonvar VAR FILE MEMBER sets VAR to a top-level member of the
// JSON object in FILE (which may be stdout, as copied by cp).
func cmdJSONVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonvar VAR FILE MEMBER")
	}
	var m map[string]any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &m))
	v, ok := m[args[2]]
	if !ok {
		ts.Fatalf("%s has no member %q", args[1], args[2])
	}
	ts.Setenv(args[0], strings.TrimSuffix(fmt.Sprint(v), "\n"))
}
