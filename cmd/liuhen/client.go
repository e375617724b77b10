package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
)

// This file holds what the online subcommands share: the --server and
// --token flags, an HTTP client that turns problem answers into errors,
// and reading the verifier key an auditor pins.

// Environment variables the online subcommands default to.
const (
	envServer = "LIUHEN_SERVER"
	envToken  = "LIUHEN_TOKEN"
)

type clientOptions struct {
	server, token string
}

// addClientFlags registers --server and --token on fs.
func addClientFlags(fs *flag.FlagSet) *clientOptions {
	o := &clientOptions{}
	fs.StringVar(&o.server, "server", os.Getenv(envServer), "base `URL` of a running liuhen serve (default $"+envServer+")")
	fs.StringVar(&o.token, "token", os.Getenv(envToken), "bearer `token` (default $"+envToken+")")
	return o
}

func (o *clientOptions) client() (*client, error) {
	if o.server == "" {
		return nil, errors.New("no server: pass --server URL or set " + envServer)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	tr.MaxIdleConnsPerHost = 16
	return &client{base: strings.TrimSuffix(o.server, "/"), token: strings.TrimSpace(o.token), hc: &http.Client{Transport: tr}}, nil
}

// A client talks to one server's HTTP API (docs/openapi.yaml).
type client struct {
	base, token string
	hc          *http.Client
}

// An apiError is an answer other than 2xx, with the problem's code when the
// server sent one.
type apiError struct {
	Method, Path string
	Status       int
	Code, Detail string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func isCode(err error, code string) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Code == code
}

func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// do sends a request and returns the response if its status is 2xx; any
// other answer is an *apiError and the body is closed.
func (c *client) do(ctx context.Context, method, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := &apiError{Method: method, Path: path, Status: resp.StatusCode}
	var p struct{ Code, Detail string }
	if json.Unmarshal(b, &p) == nil {
		ae.Code, ae.Detail = p.Code, p.Detail
	} else {
		ae.Detail = strings.TrimSpace(string(b))
	}
	return nil, ae
}

// get returns the whole body of a GET.
func (c *client) get(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (c *client) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	return nil
}

// sendJSON sends in as JSON and decodes the answer into out (if not nil).
func (c *client) sendJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	hdr := http.Header{}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
		hdr.Set("Content-Type", "application/json")
	}
	resp, err := c.do(ctx, method, path, body, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: %v", method, path, err)
	}
	return nil
}

// checkpoint fetches the latest checkpoint and checks its signature.
func (c *client) checkpoint(ctx context.Context, k *trustKey) (*ledger.Checkpoint, error) {
	b, err := c.get(ctx, "/v1/checkpoint")
	if err != nil {
		return nil, err
	}
	return k.open(b)
}

// A trustKey is the verifier key an auditor pins (a C2SP vkey line): the
// only thing the offline and online checks take on trust.
type trustKey struct {
	vkey string
	v    note.Verifier
}

// loadKey reads --key: a file holding a vkey line, or the line itself.
func loadKey(arg string) (*trustKey, error) {
	if arg == "" {
		return nil, errors.New("no verifier key: pass --key FILE (the log.vkey the server printed at first start)")
	}
	vkey := arg
	b, ferr := os.ReadFile(arg)
	if ferr == nil {
		vkey = strings.TrimSpace(string(b))
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		if ferr != nil {
			return nil, fmt.Errorf("--key: %v", ferr)
		}
		return nil, fmt.Errorf("--key %s: not a verifier key: %v", arg, err)
	}
	return &trustKey{vkey: vkey, v: v}, nil
}

func (k *trustKey) origin() string { return k.v.Name() }

// open checks a signed checkpoint note against the key.
func (k *trustKey) open(b []byte) (*ledger.Checkpoint, error) {
	return ledger.OpenCheckpoint(b, k.origin(), k.v)
}

// parseFlags parses args, printing usage on -h; errUsage for bad flags.
// want is the number of positional arguments (-1: any).
func parseFlags(fs *flag.FlagSet, args []string, want int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if want >= 0 && fs.NArg() != want {
		fs.Usage()
		return errUsage
	}
	return nil
}

// errHelp means -h was asked for and answered; the command exits 0.
var errHelp = errors.New("help")

// helpOK maps errHelp to nil: -h is not a failure.
func helpOK(err error) error {
	if err == errHelp {
		return nil
	}
	return err
}

// usageFunc sets fs's usage to text followed by the flags.
func usageFunc(fs *flag.FlagSet, w io.Writer, text string) {
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, strings.TrimLeft(text, "\n"))
		fmt.Fprintln(w, "\nflags:")
		fs.PrintDefaults()
	}
}
