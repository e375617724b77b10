package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	tproof "github.com/transparency-dev/formats/proof"
	fwitness "github.com/transparency-dev/formats/witness"

	"github.com/liuhen/liuhen/bundle"
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
	policyFile := fs.String("witness-policy", "", "make the bundle's checkpoint the latest one this witness policy's quorum cosigned (a `file`), cosignatures included")
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
	req := bundle.ExportRequest{Purpose: *purpose, CaseID: *caseID, All: *all, Media: *media}
	src := httpSource{c: c}
	if *policyFile != "" {
		if src.policy, err = loadPolicy(*policyFile); err != nil {
			return err
		}
		req.Witnessed = true
	}
	m, err := export(ctx, src, k, req, *out, format, stderr, *quiet)
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

// httpSource is a bundle.Source over the HTTP API, with the auditor's
// token: the server records the export and every media read.
type httpSource struct {
	c      *client
	policy *fwitness.Group // with ExportRequest.Witnessed: what the checkpoint must satisfy
}

func (h httpSource) Record(ctx context.Context, req bundle.ExportRequest) (*bundle.ExportRecord, error) {
	var a bundle.ExportRecord
	if err := h.c.sendJSON(ctx, http.MethodPost, "/v1/exports", req, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (h httpSource) Receipt(ctx context.Context, seq uint64, witnessed bool) ([]byte, error) {
	if witnessed {
		b, err := h.c.get(ctx, fmt.Sprintf("/v1/events/%d/receipt?witnessed=true", seq))
		if err != nil || h.policy == nil {
			return b, err
		}
		var tp tproof.TLogProof
		if err := tp.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("the server's witnessed receipt: %v", err)
		}
		if !h.policy.Satisfied(tp.Checkpoint) {
			return nil, errors.New("the server's witnessed checkpoint is not cosigned by the quorum of the witness policy")
		}
		return b, nil
	}
	return h.c.get(ctx, fmt.Sprintf("/v1/events/%d/receipt", seq))
}

func (h httpSource) Entry(ctx context.Context, seq uint64) ([]byte, error) {
	return h.c.get(ctx, "/v1/events/"+strconv.FormatUint(seq, 10))
}

func (h httpSource) InclusionProof(ctx context.Context, seq, size uint64) ([][]byte, error) {
	var ip struct{ Proof []string }
	if err := h.c.getJSON(ctx, fmt.Sprintf("/v1/proofs/inclusion?seq=%d&size=%d", seq, size), &ip); err != nil {
		return nil, err
	}
	path, err := unhexAll(ip.Proof)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of %d: %v", seq, err)
	}
	return path, nil
}

func (h httpSource) Entries(ctx context.Context, from, size uint64, w io.Writer) error {
	return pipePages(ctx, h.c, from, size, w)
}

func (h httpSource) Media(ctx context.Context, sha, purpose string, w io.Writer) error {
	_, err := fetchMedia(ctx, h.c, sha, purpose, w)
	return err
}

// export writes the bundle to out, through out.partial: out appears only
// once the whole bundle is written.
func export(ctx context.Context, src httpSource, k *trustKey, req bundle.ExportRequest, out, format string, stderr io.Writer, quiet bool) (*bundle.Manifest, error) {
	ex := &bundle.Exporter{Source: src, VKey: k.vkey,
		Progress: func(stage string, total uint64) (func(uint64), func()) {
			p := newProgress(stderr, stage, total, quiet)
			return p.add, func() { p.finish() }
		}}
	tmp := out + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	m, _, err := ex.Export(ctx, req, format, f)
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
