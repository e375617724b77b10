package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	tproof "github.com/transparency-dev/formats/proof"

	"github.com/liuhen/liuhen/bundle"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["export"] = command{"write an evidence bundle (证据包) of a case, or of the whole log, as zip or tar", runExport}
}

const exportUsage = `
usage: liuhen export --case ID --out FILE --key VKEY --purpose WHY [--media] [--server URL] [--token TOKEN]
       liuhen export --all --out FILE --key VKEY --purpose WHY [--server URL] [--token TOKEN]

Write an evidence bundle (证据包, docs/bundle.md) that a court, a 复议 body or
an auditor verifies offline with "liuhen verify --bundle FILE --key VKEY", or
by hand with sha256sum and openssl as its VERIFY.md explains.

The server first records the export in the ledger (a custody.accessed entry:
who, why, what), then the bundle is packed with: every entry of the case,
exact bytes, and the recordings linked to it; an inclusion proof for each
against one signed checkpoint that also covers the custody entry; that
checkpoint; the verifier key; with --media the media files; manifest.json
and SHA256SUMS with the SHA-256 of every file; 电子数据清单.md (item, type,
format, size, 完整性校验值); and VERIFY.md. Everything is verified before it is
written. --all writes the whole log up to that checkpoint instead (for
archives and migrations), without per-entry proofs: the root is recomputed.

FILE ending in .zip is a zip archive, .tar a tar archive. Needs an auditor
or admin token.
`

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	co := addClientFlags(fs)
	caseID := fs.String("case", "", "export this case (its UUID)")
	all := fs.Bool("all", false, "export the whole log instead of a case")
	out := fs.String("out", "", "the bundle `file` to write: .zip or .tar")
	key := fs.String("key", os.Getenv("LIUHEN_KEY"), "verifier key `file` (log.vkey) or line (default $LIUHEN_KEY)")
	purpose := fs.String("purpose", "", "why the bundle is exported (recorded in the ledger), e.g. 行政诉讼举证")
	media := fs.Bool("media", false, "include the media files the entries reference (each read is recorded)")
	quiet := fs.Bool("json", false, "print a JSON summary (and no progress line)")
	usageFunc(fs, stderr, exportUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if *out == "" || (*caseID == "") == !*all || *purpose == "" {
		fs.Usage()
		return errUsage
	}
	format, err := bundle.ArchiveFormat(*out)
	if err != nil {
		return err
	}
	k, err := loadKey(*key)
	if err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	ex := &exporter{c: c, k: k, stderr: stderr, quiet: *quiet}
	m, err := ex.run(ctx, *caseID, *all, *media, *purpose, *out, format)
	if err != nil {
		return err
	}
	if *quiet {
		return writeJSONLine(stdout, m)
	}
	fmt.Fprintf(stdout, "wrote %s: %s bundle, %d entries, %d files, checkpoint of size %d; export recorded as entry %d (custody.accessed)\n",
		*out, m.Scope, m.Entries, len(m.Files)+2, m.Checkpoint.Size, m.Custody.Seq)
	return nil
}

type exporter struct {
	c      *client
	k      *trustKey
	stderr io.Writer
	quiet  bool
}

type exportAnswer struct {
	Seq           uint64
	ID            string
	Scope         string
	Size          uint64
	Entries       []uint64
	Count         uint64
	EntriesSHA256 string `json:"entries_sha256"`
	Media         []string
}

func (ex *exporter) run(ctx context.Context, caseID string, all, media bool, purpose, out, format string) (*bundle.Manifest, error) {
	var a exportAnswer
	req := map[string]any{"purpose": purpose, "media": media}
	if all {
		req["all"] = true
	} else {
		req["case_id"] = caseID
	}
	if err := ex.c.sendJSON(ctx, http.MethodPost, "/v1/exports", req, &a); err != nil {
		return nil, err
	}
	// One checkpoint covers everything: the smallest that covers the
	// custody entry (the receipt endpoint waits for it).
	rb, err := ex.c.get(ctx, fmt.Sprintf("/v1/events/%d/receipt", a.Seq))
	if err != nil {
		return nil, err
	}
	var receipt tproof.TLogProof
	if err := receipt.Unmarshal(rb); err != nil {
		return nil, fmt.Errorf("receipt of the custody entry: %v", err)
	}
	cp, err := ex.k.open(receipt.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("the server's checkpoint: %w", err)
	}
	dir, err := os.MkdirTemp("", "liuhen-export-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	put := func(name string, b []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
	custody, err := ex.c.get(ctx, "/v1/events/"+strconv.FormatUint(a.Seq, 10))
	if err != nil {
		return nil, err
	}
	if _, err := checkReceipt(&receipt, custody, ex.k); err != nil {
		return nil, fmt.Errorf("custody entry: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{bundle.FileKey, []byte(ex.k.vkey + "\n")}, {bundle.FileCheckpoint, cp.Note}, {bundle.FileCustody, append(custody, '\n')}} {
		if err := put(f.name, f.b); err != nil {
			return nil, err
		}
	}
	var sum string
	if all {
		sum, err = ex.allEntries(ctx, dir, cp, a)
	} else {
		receipt.ExtraData = nil
		if err := put(bundle.ProofPath(a.Seq), receipt.Marshal()); err != nil {
			return nil, err
		}
		sum, err = ex.caseEntries(ctx, dir, cp, a, put)
	}
	if err != nil {
		return nil, err
	}
	if sum != a.EntriesSHA256 {
		return nil, fmt.Errorf("the entries the server sent (SHA-256 %s) are not those it recorded exporting (%s)", sum, a.EntriesSHA256)
	}
	if err := ex.media(ctx, dir, a, purpose); err != nil {
		return nil, err
	}
	root := bundle.Root(a.Scope, caseID, cp.Size)
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	m, err := bundle.Pack(f, format, root, dir)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return m, nil
}

// caseEntries fetches a case's entries and their proofs in cp, verifying
// each, and returns the SHA-256 of entries.jsonl.
func (ex *exporter) caseEntries(ctx context.Context, dir string, cp *ledger.Checkpoint, a exportAnswer, put func(string, []byte) error) (string, error) {
	f, err := os.Create(filepath.Join(dir, bundle.FileEntries))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	p := newProgress(ex.stderr, "export", uint64(len(a.Entries)), ex.quiet)
	defer p.finish()
	for _, seq := range a.Entries {
		b, err := ex.c.get(ctx, "/v1/events/"+strconv.FormatUint(seq, 10))
		if err != nil {
			return "", err
		}
		leaf := ledger.LeafHash(b)
		path, err := inclusionPath(ctx, ex.c, seq, cp.Size, leaf, cp.Root)
		if err != nil {
			return "", err
		}
		tp := tproof.TLogProof{Index: seq, Checkpoint: cp.Note, Hashes: make([][sha256.Size]byte, len(path))}
		for i, x := range path {
			copy(tp.Hashes[i][:], x)
		}
		if err := put(bundle.ProofPath(seq), tp.Marshal()); err != nil {
			return "", err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return "", err
		}
		p.add(1)
	}
	return hex.EncodeToString(h.Sum(nil)), f.Sync()
}

// allEntries streams entries [0, cp.Size) into entries.jsonl, verifying
// them against cp as they come, and returns the SHA-256 of the first
// a.Size lines.
func (ex *exporter) allEntries(ctx context.Context, dir string, cp *ledger.Checkpoint, a exportAnswer) (string, error) {
	f, err := os.Create(filepath.Join(dir, bundle.FileEntries))
	if err != nil {
		return "", err
	}
	defer f.Close()
	v := ledger.NewChainVerifier()
	h := sha256.New()
	p := newProgress(ex.stderr, "export", cp.Size, ex.quiet)
	defer p.finish()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(pipePages(ctx, ex.c, 0, cp.Size, pw))
	}()
	st := bundle.Stream{V: v, Stop: cp.Size, Progress: func(n int) { p.add(uint64(n)) },
		Entry: func(e *ledger.Entry) error {
			if e.Seq < a.Size {
				h.Write(e.Bytes)
				h.Write([]byte{'\n'})
			}
			return nil
		}}
	if err := st.Run(ctx, io.TeeReader(pr, f)); err != nil {
		pr.CloseWithError(err)
		return "", asFailure(err)
	}
	if v.Size() != cp.Size || v.Root() != cp.Root {
		return "", &failure{What: "the entries the server sent do not make its signed checkpoint", Want: ledger.Hex(cp.Root), Got: ledger.Hex(v.Root())}
	}
	return hex.EncodeToString(h.Sum(nil)), f.Sync()
}

// pipePages writes the NDJSON of entries [from, size) to w, page by page.
func pipePages(ctx context.Context, c *client, from, size uint64, w io.Writer) error {
	return pipePagesLimit(ctx, c, from, size, 10000, w)
}

func pipePagesLimit(ctx context.Context, c *client, from, size uint64, limit int, w io.Writer) error {
	pages := make(chan page, 2)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go fetchPages(ctx, c, from, size, limit, pages)
	sent := from
	for pg := range pages {
		if pg.err != nil {
			return pg.err
		}
		// Only whole lines below size, in one write.
		body, n := pg.body, 0
		for n < len(body) && sent < size {
			i := bytes.IndexByte(body[n:], '\n')
			if i < 0 {
				return errors.New("GET /v1/events: a line without a newline")
			}
			n += i + 1
			sent++
		}
		if _, err := w.Write(body[:n]); err != nil {
			return err
		}
		// The pipe's reader has consumed the bytes: the buffer is free.
		pageBufs.Put(pg.buf)
	}
	if sent < size {
		return fmt.Errorf("the server sent %d entries, its checkpoint has %d", sent, size)
	}
	return nil
}

// cutLine splits b after its first newline.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		if c == '\n' {
			return b[:i+1], b[i+1:], true
		}
	}
	return nil, nil, false
}

// media downloads the media files of the export into media/, each checked
// against its name; each read is recorded by the server.
func (ex *exporter) media(ctx context.Context, dir string, a exportAnswer, purpose string) error {
	if len(a.Media) == 0 {
		return nil
	}
	types, err := mediaTypes(filepath.Join(dir, bundle.FileEntries))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		return err
	}
	p := newProgress(ex.stderr, "media", uint64(len(a.Media)), ex.quiet)
	defer p.finish()
	for _, sha := range a.Media {
		f, err := os.Create(filepath.Join(dir, filepath.FromSlash(bundle.MediaPath(sha, types[sha]))))
		if err != nil {
			return err
		}
		_, err = fetchMedia(ctx, ex.c, sha, fmt.Sprintf("证据包导出（custody %d）：%s", a.Seq, purpose), f)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		p.add(1)
	}
	return nil
}

// mediaTypes maps the media an entries file references to their declared
// content types.
func mediaTypes(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	types := map[string]string{}
	for len(b) > 0 {
		line, rest, ok := cutLine(b)
		if !ok {
			line, rest = b, nil
		}
		b = rest
		for _, m := range mediaItems(line) {
			if _, ok := types[m.SHA256]; !ok {
				types[m.SHA256] = m.ContentType
			}
		}
	}
	return types, nil
}
