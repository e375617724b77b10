package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

func init() {
	commands["post"] = command{"post NDJSON records to a server (bulk import, or simulating a device)", runPost}
}

const postUsage = `
usage: liuhen post FILE [--media DIR] [--batch N] [--json] [--results FILE] [--server URL] [--token TOKEN]

Post the records in FILE (NDJSON, one record a line; - for stdin) to
POST /v1/events in batches, with a progress line on a terminal, and report
each record's result: accepted (with its seq), duplicate (already stored:
the same id and content, with the original seq), conflict (the id is taken
by other content) or rejected (with the catalogue's code and field).

A re-run is safe: records are idempotent by id, so what was stored comes
back as duplicate. With a device token every record must be that device's;
with an admin token, post creates a temporary device token for each device
it meets (and revokes it at the end), so that a multi-device export can be
imported. Consecutive records of one device go in one request, so file
order is kept.

--media DIR uploads, after the records, every file in DIR that a posted
record references (by SHA-256, whatever the file's name), as the device of
the record; files already on the server are not sent again.

Text output lists the records not stored (line, id, code, field, detail)
and a summary; --json prints every result as one JSON line; --results FILE
writes them there. Exit status 1 when any record was rejected or conflicts.
`

func runPost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("post", flag.ContinueOnError)
	co := addClientFlags(fs)
	batch := fs.Int("batch", 500, "records per request (1 to 1000)")
	asJSON := fs.Bool("json", false, "print every record's result as a JSON line")
	resultsFile := fs.String("results", "", "also write every record's result to this `file` (NDJSON)")
	mediaDir := fs.String("media", "", "upload the media files in this `dir`ectory that the records reference")
	usageFunc(fs, stderr, postUsage)
	var file string
	if len(args) > 0 && (args[0] == "-" || len(args[0]) > 0 && args[0][0] != '-') {
		file, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, -1); err != nil {
		return helpOK(err)
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if fs.NArg() != 0 || file == "" {
		fs.Usage()
		return errUsage
	}
	if *batch < 1 || *batch > 1000 {
		return errors.New("--batch must be 1 to 1000")
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	total := uint64(0)
	if file != "-" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		total = uint64(bytes.Count(b, []byte{'\n'}))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			total++
		}
		in = bytes.NewReader(b)
	}
	var rw io.Writer
	if *resultsFile != "" {
		f, err := os.Create(*resultsFile)
		if err != nil {
			return err
		}
		defer f.Close()
		rw = f
	}
	p := newProgress(stderr, "post", total, *asJSON)
	po := newPoster(c, *batch)
	defer po.close(context.WithoutCancel(ctx))
	po.onResult = func(r postResult) {
		if rw != nil || *asJSON {
			b, _ := json.Marshal(r)
			if rw != nil {
				fmt.Fprintf(rw, "%s\n", b)
			}
			if *asJSON {
				fmt.Fprintf(stdout, "%s\n", b)
			}
		} else if r.Status == "rejected" || r.Status == "conflict" {
			code, field, detail := "", "", ""
			if r.Error != nil {
				code, field, detail = r.Error.Code, r.Error.Field, r.Error.Detail
			}
			fmt.Fprintf(stdout, "line %d: %s %s: %s %s %s\n", r.Line, r.ID, r.Status, code, field, detail)
		}
		p.add(1)
	}
	var files map[string]string // sha256 -> path
	var uploads []mediaUpload
	if *mediaDir != "" {
		if files, err = hashDir(*mediaDir); err != nil {
			return err
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			p.add(1)
			continue
		}
		if err := po.add(ctx, line, bytes.Clone(raw)); err != nil {
			return err
		}
		for _, m := range mediaItems(raw) {
			if p, ok := files[m.SHA256]; ok {
				uploads = append(uploads, mediaUpload{deviceOf(raw), m.SHA256, p})
				delete(files, m.SHA256)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := po.flush(ctx); err != nil {
		return err
	}
	p.finish()
	for _, u := range uploads {
		b, err := os.ReadFile(u.path)
		if err != nil {
			return err
		}
		if err := po.putMedia(ctx, u.device, u.sha, b); err != nil {
			return fmt.Errorf("uploading %s: %w", u.path, err)
		}
	}
	if *mediaDir != "" {
		fmt.Fprintf(stderr, "liuhen post: %d media files uploaded\n", len(uploads))
	}
	s := po.counts
	summary := fmt.Sprintf("posted %d records: %d accepted, %d duplicate, %d conflict, %d rejected",
		s["accepted"]+s["duplicate"]+s["conflict"]+s["rejected"], s["accepted"], s["duplicate"], s["conflict"], s["rejected"])
	if *asJSON {
		fmt.Fprintln(stderr, summary)
	} else {
		fmt.Fprintln(stdout, summary)
	}
	if s["conflict"]+s["rejected"] > 0 {
		return fmt.Errorf("%d records were not stored", s["conflict"]+s["rejected"])
	}
	return nil
}

type mediaUpload struct{ device, sha, path string }

// hashDir maps the SHA-256 of every regular file in dir to its path.
func hashDir(dir string) (map[string]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s := sha256.Sum256(b)
		out[hex.EncodeToString(s[:])] = p
	}
	return out, nil
}

// A postResult is one record's result, with its line in the input.
type postResult struct {
	Line         int      `json:"line"`
	ID           string   `json:"id,omitempty"`
	Status       string   `json:"status"`
	Seq          *uint64  `json:"seq,omitempty"`
	Hash         string   `json:"hash,omitempty"`
	CaseSeq      uint64   `json:"case_seq,omitempty"`
	Error        *recErr  `json:"error,omitempty"`
	MissingMedia []string `json:"missing_media,omitempty"`
}

type recErr struct {
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// A poster posts records in batches of one device, in order. With an admin
// token it makes a device token per device.
type poster struct {
	c        *client
	batch    int
	admin    *bool
	devices  map[string]devToken // device id -> token, when admin
	pending  []pendingRec
	device   string // of pending
	counts   map[string]int
	onResult func(postResult)
	onFlush  func() error // after each request, e.g. to upload its media
}

type devToken struct{ id, secret string }

type pendingRec struct {
	line int
	raw  []byte
}

func newPoster(c *client, batch int) *poster {
	return &poster{c: c, batch: batch, devices: map[string]devToken{}, counts: map[string]int{}, onResult: func(postResult) {}}
}

func deviceOf(raw []byte) string {
	var r struct {
		Device struct {
			ID string `json:"id"`
		} `json:"device"`
	}
	json.Unmarshal(raw, &r)
	return r.Device.ID
}

func (po *poster) add(ctx context.Context, line int, raw []byte) error {
	dev := deviceOf(raw)
	if len(po.pending) > 0 && (dev != po.device || len(po.pending) == po.batch) {
		if err := po.flush(ctx); err != nil {
			return err
		}
	}
	po.device = dev
	po.pending = append(po.pending, pendingRec{line, raw})
	return nil
}

// isAdmin finds out once whether the token is an admin's.
func (po *poster) isAdmin(ctx context.Context) bool {
	if po.admin == nil {
		_, err := po.c.get(ctx, "/v1/admin/tokens")
		a := err == nil
		po.admin = &a
	}
	return *po.admin
}

// tokenFor returns the token to post device's records with.
func (po *poster) tokenFor(ctx context.Context, device string) (string, error) {
	if device == "" || !po.isAdmin(ctx) {
		return po.c.token, nil
	}
	if t, ok := po.devices[device]; ok {
		return t.secret, nil
	}
	var ans struct{ ID, Token string }
	err := po.c.sendJSON(ctx, http.MethodPost, "/v1/admin/tokens",
		map[string]string{"role": "device", "device_id": device, "name": "liuhen post " + device}, &ans)
	if err != nil {
		return "", fmt.Errorf("creating a device token for %s: %w", device, err)
	}
	po.devices[device] = devToken{ans.ID, ans.Token}
	return ans.Token, nil
}

// flush posts the pending records as one NDJSON request.
func (po *poster) flush(ctx context.Context) error {
	if len(po.pending) == 0 {
		return nil
	}
	tok, err := po.tokenFor(ctx, po.device)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	for _, r := range po.pending {
		body.Write(r.raw)
		body.WriteByte('\n')
	}
	dc := *po.c
	dc.token = tok
	hdr := http.Header{"Content-Type": {"application/x-ndjson"}}
	var ans struct {
		Results []postResult `json:"results"`
	}
	for attempt := 0; ; attempt++ {
		resp, err := dc.do(ctx, http.MethodPost, "/v1/events", bytes.NewReader(body.Bytes()), hdr)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("POST /v1/events: %v", err)
			}
			break
		}
		// A timeout or a 503 may have stored the records: resending is
		// safe, ids are idempotent.
		if attempt < 3 && (isStatus(err, http.StatusServiceUnavailable) || !isAPIError(err)) && ctx.Err() == nil {
			continue
		}
		return err
	}
	if len(ans.Results) != len(po.pending) {
		return fmt.Errorf("POST /v1/events: %d results for %d records", len(ans.Results), len(po.pending))
	}
	for i, r := range ans.Results {
		r.Line = po.pending[i].line
		po.counts[r.Status]++
		po.onResult(r)
	}
	po.pending = po.pending[:0]
	if po.onFlush != nil {
		return po.onFlush()
	}
	return nil
}

// putMedia uploads a media file as device.
func (po *poster) putMedia(ctx context.Context, device, sha string, data []byte) error {
	tok, err := po.tokenFor(ctx, device)
	if err != nil {
		return err
	}
	dc := *po.c
	dc.token = tok
	resp, err := dc.do(ctx, http.MethodPut, "/v1/media/"+sha, bytes.NewReader(data), http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func isAPIError(err error) bool {
	var ae *apiError
	return errors.As(err, &ae)
}

// close revokes the device tokens the poster made.
func (po *poster) close(ctx context.Context) {
	for _, t := range po.devices {
		po.c.sendJSON(ctx, http.MethodDelete, "/v1/admin/tokens/"+t.id, nil, nil)
	}
	po.devices = map[string]devToken{}
}
