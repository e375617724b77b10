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
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/liuhen/liuhen/bundle"
	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["verify"] = command{"verify a server's whole ledger, a saved receipt, or an evidence bundle", runVerify}
}

type verifyOptions struct {
	client                               *clientOptions
	key, trusted, receipt, entry, bundle string
	dir, witnessPolicy                   string
	media, json                          bool
	page                                 int
}

const verifyUsage = `
usage: liuhen verify --key VKEY [--server URL] [--token TOKEN] [--trusted FILE] [--witness-policy FILE] [--media] [--json]
       liuhen verify --receipt FILE --key VKEY [--entry FILE] [--witness-policy FILE] [--json]
       liuhen verify --bundle FILE --key VKEY [--witness-policy FILE] [--json]
       liuhen verify --dir DIR --key VKEY [--json]

Online (the default): stream every entry from a running server (GET
/v1/events, auditor token), re-hash each one, check the global chain and
every case chain, recompute the Merkle root and check it against the
server's latest checkpoint, signed by the key you trust (--key). Nothing the
server says is taken on trust but that key.

  --trusted FILE  incremental: FILE holds the last checkpoint you accepted.
                  The server must prove (RFC 6962 consistency proof) that its
                  new checkpoint extends it; then only the new entries are
                  verified, and FILE is replaced by the new checkpoint, only
                  on success. A server that rewrote history before FILE's
                  size fails, even with validly signed checkpoints. A missing
                  FILE is created after a full verification.
  --witness-policy FILE
                  accept only the latest checkpoint cosigned by the quorum of
                  the witnesses in FILE (a witness policy; GET
                  /v1/checkpoint/witnessed), so that the history checked is
                  the one the witnesses were shown too.
  --media         also fetch and re-hash every media file the entries
                  reference (each read is recorded by the server as
                  custody.accessed); files not uploaded yet are listed.

--receipt FILE: verify a receipt (c2sp.org/tlog-proof, as printed by liuhen
prove) offline: the entry's bytes (inside the receipt, or --entry FILE)
hash into the audit path, which leads to the root of the checkpoint, signed
by --key.

--bundle FILE: verify an evidence bundle (liuhen export, .zip or .tar)
offline; see docs/bundle.md. Every changed, added, removed or reordered
byte is found and named.

--dir DIR: verify a ledger directory offline, opened read-only (nothing is
written, no signing key needed): a backup (liuhen backup's DIR), a stopped
server's data directory, or its ledger/ itself. Every entry, chain, index
and tree hash, and the latest checkpoint's signature against --key.

On a terminal a progress line shows rate and ETA; --json prints one JSON
object instead. A failure exits 1 and names the entry (seq), its case, and
what was expected against what was found.
`

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &verifyOptions{}
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	o.client = addClientFlags(fs)
	fs.StringVar(&o.key, "key", os.Getenv("LIUHEN_KEY"), "verifier key: a `file` holding the log's vkey line (log.vkey), or the line itself (default $LIUHEN_KEY)")
	fs.StringVar(&o.trusted, "trusted", "", "incremental: `file` with the last checkpoint you accepted; updated on success")
	fs.StringVar(&o.receipt, "receipt", "", "verify this receipt `file` offline")
	fs.StringVar(&o.entry, "entry", "", "with --receipt: the entry's bytes, when the receipt does not carry them (`file`)")
	fs.StringVar(&o.bundle, "bundle", "", "verify this evidence bundle `file` (.zip or .tar) offline")
	fs.StringVar(&o.witnessPolicy, "witness-policy", "", "online, --receipt and --bundle: accept only a checkpoint cosigned by this witness policy's quorum (a `file`; online, GET /v1/checkpoint/witnessed)")
	fs.StringVar(&o.dir, "dir", "", "verify this ledger `directory` offline (a backup, or a stopped server's data directory)")
	fs.BoolVar(&o.media, "media", false, "online: also fetch and re-hash every referenced media file")
	fs.BoolVar(&o.json, "json", false, "print one JSON object (and no progress line)")
	fs.IntVar(&o.page, "page", 2000, "online: entries per GET /v1/events request (1 to 10000); two are in flight")
	usageFunc(fs, stderr, verifyUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if (o.receipt != "") && (o.bundle != "" || o.dir != "") || o.bundle != "" && o.dir != "" {
		return errors.New("--receipt, --bundle and --dir are separate modes")
	}
	k, err := loadKey(o.key)
	if err != nil {
		return err
	}
	switch {
	case o.receipt != "":
		return verifyReceiptFile(o, k, stdout)
	case o.bundle != "":
		return verifyBundleFile(ctx, o, k, stdout, stderr)
	case o.dir != "":
		rep, err := verifyDir(ctx, o.dir, k)
		return report(stdout, o.json, rep, err)
	}
	if o.page < 1 || o.page > 10000 {
		return errors.New("--page must be 1 to 10000")
	}
	c, err := o.client.client()
	if err != nil {
		return err
	}
	rep, err := verifyOnline(ctx, c, k, o, stderr)
	return report(stdout, o.json, rep, err)
}

// witnessedCheckpoint fetches the server's latest witnessed checkpoint and
// checks it: signed by the log's key, and cosigned by the quorum of the
// witness policy in file.
func witnessedCheckpoint(ctx context.Context, c *client, k *trustKey, file string) (*ledger.Checkpoint, error) {
	policy, err := loadPolicy(file)
	if err != nil {
		return nil, err
	}
	b, err := c.get(ctx, "/v1/checkpoint/witnessed")
	if err != nil {
		return nil, err
	}
	cp, err := k.open(b)
	if err != nil {
		return nil, err
	}
	if !policy.Satisfied(b) {
		return nil, &failure{What: fmt.Sprintf("the checkpoint of size %d is not cosigned by the quorum of the witness policy %s", cp.Size, file)}
	}
	return cp, nil
}

// A failure is a verification that found something wrong, located as
// precisely as the check allows.
type failure = bundle.Problem

func seqp(s uint64) *uint64 { return &s }

// asFailure turns a ledger.ChainError into a failure; other errors pass.
func asFailure(err error) error {
	var ce *ledger.ChainError
	if errors.As(err, &ce) {
		return &failure{Seq: seqp(ce.Seq), Case: ce.Case, What: ce.Explain(), Want: ce.Want, Got: ce.Got}
	}
	return err
}

// verifyReport is what a successful verification prints.
type verifyReport struct {
	OK      bool     `json:"ok"`
	Mode    string   `json:"mode"` // online, incremental, receipt, bundle
	Origin  string   `json:"origin"`
	From    uint64   `json:"from"`
	Size    uint64   `json:"size"`
	Root    string   `json:"root"`
	Entries uint64   `json:"entries"`
	Seconds float64  `json:"seconds,omitempty"`
	Rate    float64  `json:"entries_per_second,omitempty"`
	MaxHeap uint64   `json:"max_heap_bytes,omitempty"`
	Trusted string   `json:"trusted_file,omitempty"`
	Media   *mediaOK `json:"media,omitempty"`
	Case    string   `json:"case,omitempty"`
	Files   int      `json:"files,omitempty"`
	Custody *uint64  `json:"custody_seq,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	// Checkpoint is the size of the signed checkpoint checked, when it
	// may be smaller than Size (dir).
	Checkpoint *uint64 `json:"checkpoint_size,omitempty"`
	// WitnessPolicy is the policy whose quorum cosigned the checkpoint.
	WitnessPolicy string           `json:"witness_policy,omitempty"`
	Error         *failure         `json:"error,omitempty"`
	Problems      []bundle.Problem `json:"problems,omitempty"`
	ErrorText     string           `json:"error_text,omitempty"`
}

type mediaOK struct {
	Checked int      `json:"checked"`
	Bytes   int64    `json:"bytes"`
	Missing []string `json:"missing"`
}

// report prints the outcome of a verification; the error it returns makes
// the command exit 1.
func report(w io.Writer, asJSON bool, rep *verifyReport, err error) error {
	if rep == nil {
		rep = &verifyReport{}
	}
	if err != nil {
		var f *failure
		if !errors.As(err, &f) && !asJSON {
			return err
		}
		if asJSON {
			rep.OK = false
			if f != nil {
				rep.Error = f
			}
			rep.ErrorText = err.Error()
			b, _ := json.Marshal(rep)
			fmt.Fprintf(w, "%s\n", b)
		}
		return fmt.Errorf("FAILED: %w", err)
	}
	rep.OK = true
	if asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintf(w, "%s\n", b)
		return nil
	}
	switch rep.Mode {
	case "receipt":
		fmt.Fprintf(w, "OK: entry %d is in the log %s of %d entries (root %s), checkpoint signed by the key you trust\n",
			rep.From, rep.Origin, rep.Size, rep.Root)
		if rep.WitnessPolicy != "" {
			fmt.Fprintf(w, "    and cosigned by the quorum of the witness policy %s\n", rep.WitnessPolicy)
		}
	case "bundle":
		printBundleOK(w, rep)
	case "dir":
		fmt.Fprintf(w, "OK: %s: %s entries [0, %d) of %s verified offline: every leaf hash, the chain, every case chain, every tree hash and index, root %s; the latest checkpoint, of size %d, signed by the key you trust\n",
			rep.Dir, thousands(rep.Entries), rep.Size, rep.Origin, rep.Root, *rep.Checkpoint)
		if *rep.Checkpoint < rep.Size {
			fmt.Fprintf(w, "    entries [%d, %d) are not covered by a checkpoint in this copy yet (the server signs the head when it next opens it)\n", *rep.Checkpoint, rep.Size)
		}
		if rep.Seconds > 0.5 {
			fmt.Fprintf(w, "    %.2f s, %s entries/s\n", rep.Seconds, thousands(uint64(rep.Rate)))
		}
	default:
		fmt.Fprintf(w, "OK: %s entries [%d, %d) of %s verified: every leaf hash, the chain, every case chain, and root %s = the signed checkpoint of size %d\n",
			thousands(rep.Entries), rep.From, rep.Size, rep.Origin, rep.Root, rep.Size)
		if rep.Seconds > 0 {
			fmt.Fprintf(w, "    %.2f s, %s entries/s\n", rep.Seconds, thousands(uint64(rep.Rate)))
		}
		if rep.WitnessPolicy != "" {
			fmt.Fprintf(w, "    the checkpoint is cosigned by the quorum of the witness policy %s\n", rep.WitnessPolicy)
		}
		if rep.Trusted != "" {
			fmt.Fprintf(w, "    %s now holds the checkpoint of size %d\n", rep.Trusted, rep.Size)
		}
		if m := rep.Media; m != nil {
			fmt.Fprintf(w, "    media: %d files (%s bytes) re-hashed and match; %d not uploaded yet\n", m.Checked, thousands(uint64(m.Bytes)), len(m.Missing))
			for _, s := range m.Missing {
				fmt.Fprintf(w, "      missing %s\n", s)
			}
		}
	}
	return nil
}

// verifyOnline streams the server's entries into a ChainVerifier and checks
// the result against the server's signed checkpoint.
func verifyOnline(ctx context.Context, c *client, k *trustKey, o *verifyOptions, stderr io.Writer) (*verifyReport, error) {
	var head *ledger.Checkpoint
	var err error
	if o.witnessPolicy != "" {
		head, err = witnessedCheckpoint(ctx, c, k, o.witnessPolicy)
	} else {
		head, err = c.checkpoint(ctx, k)
	}
	if err != nil {
		return nil, fmt.Errorf("the server's checkpoint: %w", err)
	}
	rep := &verifyReport{Mode: "online", Origin: k.origin(), Size: head.Size, Root: ledger.Hex(head.Root), WitnessPolicy: o.witnessPolicy}
	v := ledger.NewChainVerifier()
	var lastTime time.Time
	if o.trusted != "" {
		rep.Trusted = o.trusted
		tb, err := os.ReadFile(o.trusted)
		switch {
		case errors.Is(err, os.ErrNotExist):
			// Trust on first use, after a full verification.
		case err != nil:
			return nil, err
		default:
			trusted, err := k.open(tb)
			if err != nil {
				return nil, fmt.Errorf("--trusted %s: %w", o.trusted, err)
			}
			rep.Mode = "incremental"
			if v, lastTime, err = resume(ctx, c, k, trusted, head); err != nil {
				return rep, err
			}
			rep.From = trusted.Size
		}
	}
	var media map[string]bool
	if o.media {
		media = map[string]bool{}
	}
	p := newProgress(stderr, "verify", head.Size-v.Size(), o.json)
	if err := streamVerify(ctx, c, v, head.Size, o.page, lastTime, media, p); err != nil {
		return rep, err
	}
	if v.Size() != head.Size {
		return rep, &failure{Seq: seqp(v.Size()), What: "missing entry", Want: fmt.Sprintf("%d entries (the checkpoint's size)", head.Size), Got: fmt.Sprintf("%d", v.Size())}
	}
	if root := v.Root(); root != head.Root {
		return rep, &failure{Seq: seqp(head.Size - 1), What: "Merkle root of the entries the server sent differs from its signed checkpoint", Want: ledger.Hex(head.Root), Got: ledger.Hex(root)}
	}
	el := p.finish()
	rep.Entries = head.Size - rep.From
	rep.Seconds, rep.MaxHeap = el.Seconds(), p.maxHeap
	if el > 0 {
		rep.Rate = float64(rep.Entries) / el.Seconds()
	}
	if media != nil {
		if rep.Media, err = verifyMedia(ctx, c, media, o.json, stderr); err != nil {
			return rep, err
		}
	}
	if o.trusted != "" {
		if err := durable.WriteFile(o.trusted, head.Note, 0o644); err != nil {
			return rep, fmt.Errorf("verified, but updating %s: %w", o.trusted, err)
		}
	}
	return rep, nil
}

// page is one answer of GET /v1/events, read whole.
type page struct {
	buf  *bytes.Buffer // body's storage, to recycle (pageBufs) once used
	body []byte
	err  error
}

// pageBufs recycles page buffers (up to 16 MiB each).
var pageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// fetchPages reads GET /v1/events pages from from until size entries have
// been sent, in order, with two requests in flight so that the server
// builds the next page while this one is checked.
func fetchPages(ctx context.Context, c *client, from, size uint64, limit int, out chan<- page) {
	defer close(out)
	type span struct {
		pages []page
		done  chan struct{}
	}
	spans := make(chan *span, 1) // with the one being sent: two in flight
	go func() {
		defer close(spans)
		for start := from; start < size; start += uint64(limit) {
			sp := &span{done: make(chan struct{})}
			select {
			case spans <- sp:
			case <-ctx.Done():
				return
			}
			go func(start, end uint64) {
				defer close(sp.done)
				sp.pages = fetchSpan(ctx, c, start, end)
			}(start, min(start+uint64(limit), size))
		}
	}()
	for sp := range spans {
		<-sp.done
		for _, pg := range sp.pages {
			select {
			case out <- pg:
			case <-ctx.Done():
				return
			}
			if pg.err != nil {
				return
			}
		}
	}
}

// fetchSpan reads entries [start, end), in one page unless the server cuts
// it short (Liuhen-Next, at 16 MiB).
func fetchSpan(ctx context.Context, c *client, start, end uint64) []page {
	var pages []page
	for start < end {
		path := "/v1/events?from=" + strconv.FormatUint(start, 10) + "&limit=" + strconv.FormatUint(min(end-start, 10000), 10)
		resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
		if err != nil {
			return append(pages, page{err: err})
		}
		buf := pageBufs.Get().(*bytes.Buffer)
		buf.Reset()
		if n := resp.ContentLength; n > 0 {
			buf.Grow(int(n))
		}
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return append(pages, page{err: fmt.Errorf("GET %s: %w", path, err)})
		}
		pg := page{body: buf.Bytes(), buf: buf}
		pages = append(pages, pg)
		nx := resp.Header.Get("Liuhen-Next")
		if nx == "" {
			return pages // the end of the log
		}
		next, err := strconv.ParseUint(nx, 10, 64)
		if err != nil || next <= start {
			return append(pages, page{err: fmt.Errorf("GET %s: bad Liuhen-Next %q", path, nx)})
		}
		start = next
	}
	return pages
}

// streamVerify adds entries [v.Size(), size) to v, fetching pages ahead
// and scanning their entries where they lie, on all cores
// (bundle.Stream.RunBlocks).
func streamVerify(ctx context.Context, c *client, v *ledger.ChainVerifier, size uint64, limit int,
	lastTime time.Time, media map[string]bool, p *progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 2)
	go fetchPages(ctx, c, v.Size(), size, limit, pages)
	next := func() ([]byte, func(), error) {
		select {
		case pg, ok := <-pages:
			if !ok {
				return nil, nil, io.EOF
			}
			if pg.err != nil {
				return nil, nil, pg.err
			}
			return pg.body, func() { pageBufs.Put(pg.buf) }, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	first := !lastTime.IsZero()
	st := bundle.Stream{V: v, Stop: size, Progress: func(n int) { p.add(uint64(n)) },
		Entry: func(e *ledger.Entry) error {
			if first {
				// The boundary the resumed verifier cannot see.
				first = false
				if e.RecordedAt.Before(lastTime) {
					return &failure{Seq: seqp(e.Seq), What: "recorded_at went backwards", Want: ">= " + lastTime.Format(ledger.RecordedAtLayout), Got: e.RecordedAt.Format(ledger.RecordedAtLayout)}
				}
			}
			if media != nil {
				collectMedia(e.Bytes, media)
			}
			return nil
		}}
	return asFailure(st.RunBlocks(ctx, next))
}

var mediaKey = []byte(`"media":[`)

// collectMedia adds the SHA-256 of every media item an entry references.
func collectMedia(b []byte, into map[string]bool) {
	for _, m := range mediaItems(b) {
		if len(m.SHA256) == 64 {
			into[m.SHA256] = true
		}
	}
}

type mediaItem struct {
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// mediaItems returns the media items an entry references.
func mediaItems(b []byte) []mediaItem {
	if !bytes.Contains(b, mediaKey) {
		return nil
	}
	var rec struct {
		Media []mediaItem `json:"media"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil
	}
	return rec.Media
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// resume prepares incremental verification from a trusted checkpoint: the
// server proves that head extends trusted, and the verifier starts at the
// trusted size with the tree and the last entry taken from the trusted
// root, each checked by a proof, never on the server's word.
func resume(ctx context.Context, c *client, k *trustKey, trusted, head *ledger.Checkpoint) (*ledger.ChainVerifier, time.Time, error) {
	var zero time.Time
	T, N := trusted.Size, head.Size
	if T == 0 {
		return ledger.NewChainVerifier(), zero, nil
	}
	if T > N {
		return nil, zero, &failure{Seq: seqp(N), What: "the server's signed checkpoint is older than the one you trusted: entries were removed, or this is another log",
			Want: fmt.Sprintf("size >= %d", T), Got: fmt.Sprintf("size %d", N)}
	}
	h := rfc6962.DefaultHasher
	if T == N {
		if trusted.Root != head.Root {
			return nil, zero, &failure{Seq: seqp(T - 1), What: "history rewritten: the server signed another root for the size you trusted", Want: ledger.Hex(trusted.Root), Got: ledger.Hex(head.Root)}
		}
	} else {
		var cp struct{ Proof []string }
		if err := c.getJSON(ctx, fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", T, N), &cp); err != nil {
			return nil, zero, err
		}
		pr, err := unhexAll(cp.Proof)
		if err != nil {
			return nil, zero, fmt.Errorf("consistency proof: %v", err)
		}
		if err := proof.VerifyConsistency(h, T, N, pr, trusted.Root[:], head.Root[:]); err != nil {
			return nil, zero, &failure{Seq: seqp(T - 1), What: fmt.Sprintf("history rewritten: the server's log of size %d does not extend the one of size %d you trusted (the consistency proof fails)", N, T),
				Want: "a tree containing root " + ledger.Hex(trusted.Root), Got: "root " + ledger.Hex(head.Root)}
		}
	}
	// The last trusted entry and the tree's subtrees, from its inclusion
	// proof in the trusted tree.
	last, err := c.get(ctx, fmt.Sprintf("/v1/events/%d", T-1))
	if err != nil {
		return nil, zero, err
	}
	leaf := ledger.LeafHash(last)
	path, err := inclusionPath(ctx, c, T-1, T, leaf, trusted.Root)
	if err != nil {
		return nil, zero, err
	}
	rf := compact.RangeFactory{Hash: h.HashChildren}
	left := make([][]byte, len(path))
	for i, p := range path {
		left[len(path)-1-i] = p
	}
	r, err := rf.NewRange(0, T-1, left)
	if err == nil {
		err = r.Append(leaf[:], nil)
	}
	if err != nil {
		return nil, zero, fmt.Errorf("tree of size %d: %v", T, err)
	}
	if root, err := r.GetRootHash(nil); err != nil || !bytes.Equal(root, trusted.Root[:]) {
		return nil, zero, &failure{Seq: seqp(T - 1), What: "the subtrees of the trusted tree do not make its root", Want: ledger.Hex(trusted.Root), Got: hex.EncodeToString(root)}
	}
	v, err := ledger.ResumeChainVerifier(T, r.Hashes(), leaf)
	if err != nil {
		return nil, zero, err
	}
	v.KnownCaseHead = func(cs uuid.UUID) (uint64, ledger.Hash, bool, error) {
		return caseHeadBefore(ctx, c, cs, T, trusted.Root)
	}
	e, err := ledger.DecodeEntry(last)
	if err != nil {
		return nil, zero, &failure{Seq: seqp(T - 1), What: "entry does not decode: " + err.Error()}
	}
	return v, e.RecordedAt, nil
}

// inclusionPath fetches the audit path of entry seq in the tree of size
// entries and checks that leaf leads to root.
func inclusionPath(ctx context.Context, c *client, seq, size uint64, leaf, root ledger.Hash) ([][]byte, error) {
	path, err := httpSource{c: c}.InclusionProof(ctx, seq, size)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, size, leaf[:], path, root[:]); err != nil {
		return nil, &failure{Seq: seqp(seq), What: fmt.Sprintf("history rewritten: this entry is not in the trusted tree of size %d (its inclusion proof fails)", size), Want: "root " + ledger.Hex(root)}
	}
	return path, nil
}

// caseHeadBefore finds a case's last entry before seq size, proven to be in
// the trusted tree, for the case chain of an incremental verification.
func caseHeadBefore(ctx context.Context, c *client, cs uuid.UUID, size uint64, root ledger.Hash) (uint64, ledger.Hash, bool, error) {
	var last []byte
	from := uint64(1)
	for {
		resp, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/cases/%s/events?from=%d&limit=10000", cs, from), nil, nil)
		if err != nil {
			return 0, ledger.Hash{}, false, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		done := false
		for sc.Scan() {
			e, err := ledger.DecodeEntry(sc.Bytes())
			if err != nil {
				resp.Body.Close()
				return 0, ledger.Hash{}, false, err
			}
			if e.Seq >= size {
				done = true
				break
			}
			last = bytes.Clone(sc.Bytes())
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return 0, ledger.Hash{}, false, err
		}
		nx := resp.Header.Get("Liuhen-Next")
		if done || nx == "" {
			break
		}
		n, err := strconv.ParseUint(nx, 10, 64)
		if err != nil || n <= from {
			break
		}
		from = n
	}
	if last == nil {
		return 0, ledger.Hash{}, false, nil
	}
	e, _ := ledger.DecodeEntry(last)
	leaf := ledger.LeafHash(last)
	if _, err := inclusionPath(ctx, c, e.Seq, size, leaf, root); err != nil {
		return 0, ledger.Hash{}, false, err
	}
	return e.CaseSeq, leaf, true, nil
}

func unhexAll(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, s := range hs {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("hash %d is not 64 hex digits", i)
		}
		out[i] = b
	}
	return out, nil
}

// verifyMedia fetches each media file and re-hashes it.
func verifyMedia(ctx context.Context, c *client, media map[string]bool, quiet bool, stderr io.Writer) (*mediaOK, error) {
	m := &mediaOK{Missing: []string{}}
	p := newProgress(stderr, "media", uint64(len(media)), quiet)
	defer p.finish()
	for _, sha := range sortedKeys(media) {
		n, err := fetchMedia(ctx, c, sha, "liuhen verify --media: integrity check", io.Discard)
		switch {
		case isStatus(err, http.StatusNotFound):
			m.Missing = append(m.Missing, sha)
		case err != nil:
			return m, err
		default:
			m.Checked++
			m.Bytes += n
		}
		p.add(1)
	}
	return m, nil
}

// fetchMedia downloads one media file into w and checks that its bytes hash
// to sha; the server records the read (custody.accessed) with purpose.
func fetchMedia(ctx context.Context, c *client, sha, purpose string, w io.Writer) (int64, error) {
	hdr := http.Header{}
	hdr.Set("Liuhen-Purpose", urlEscape(purpose))
	resp, err := c.do(ctx, http.MethodGet, "/v1/media/"+sha, nil, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, w), resp.Body)
	if err != nil {
		return n, fmt.Errorf("media %s: %w", sha, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return n, &failure{File: "media " + sha, What: "the server's file does not hash to its name", Want: sha, Got: got}
	}
	return n, nil
}
