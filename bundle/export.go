package bundle

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
)

// ExportRequest asks for an export: the body of POST /v1/exports.
type ExportRequest struct {
	Purpose string `json:"purpose"`
	CaseID  string `json:"case_id,omitempty"`
	All     bool   `json:"all,omitempty"`
	Media   bool   `json:"media,omitempty"`
	// Witnessed asks for the bundle's checkpoint to be the latest one the
	// server's witness policy cosigned (cosignatures included), once it
	// covers the export's custody entry.
	Witnessed bool `json:"witnessed,omitempty"`
}

// ExportRecord is what the server recorded about an export (its
// custody.accessed entry) and what the bundle must hold: the answer of
// POST /v1/exports.
type ExportRecord struct {
	Seq           uint64   `json:"seq"` // the custody.accessed entry
	ID            string   `json:"id"`
	Hash          string   `json:"hash"`
	Scope         string   `json:"scope"`
	Size          uint64   `json:"size"`              // the log's size the export is cut at
	Entries       []uint64 `json:"entries,omitempty"` // case exports: the seqs, in order
	Count         uint64   `json:"count"`
	EntriesSHA256 string   `json:"entries_sha256"`
	Media         []string `json:"media"` // media files the export includes
}

// A Source is the ledger a bundle is exported from: the HTTP API as seen by
// a client (liuhen export), or the server's own ledger (POST /v1/exports
// with a format). The Exporter trusts none of its answers: it checks every
// entry and proof against a checkpoint signed by the key it is given.
type Source interface {
	// Record records the export in the ledger (a custody.accessed entry)
	// and says what the bundle holds. It is called first, once.
	Record(ctx context.Context, req ExportRequest) (*ExportRecord, error)
	// Receipt returns a c2sp.org/tlog-proof@v1 of entry seq in the
	// smallest signed checkpoint that covers it, waiting for one if need be;
	// with witnessed, in the latest witnessed checkpoint, cosignatures
	// included (ExportRequest.Witnessed).
	Receipt(ctx context.Context, seq uint64, witnessed bool) ([]byte, error)
	// Entry returns entry seq's exact bytes.
	Entry(ctx context.Context, seq uint64) ([]byte, error)
	// InclusionProof returns the RFC 6962 audit path of entry seq in the
	// tree of size entries.
	InclusionProof(ctx context.Context, seq, size uint64) ([][]byte, error)
	// Media writes the media file with SHA-256 sha to w; the read is
	// recorded in the ledger with purpose, as every media read is.
	Media(ctx context.Context, sha, purpose string, w io.Writer) error
}

// A LogSource can also export the whole log.
type LogSource interface {
	Source
	// Entries writes entries [from, size) to w as NDJSON, exact bytes and a
	// newline each, in seq order.
	Entries(ctx context.Context, from, size uint64, w io.Writer) error
}

// An Exporter builds evidence bundles from a Source: it records the
// export, fetches the entries, their inclusion proofs in one signed
// checkpoint that also covers the custody entry, and the media, verifies
// each against the verifier key, and packs the bundle (Pack). liuhen
// export and the API's POST /v1/exports share it.
type Exporter struct {
	Source Source
	// VKey is the log's verifier key (a C2SP vkey line): the checkpoint
	// must be signed by it, and the bundle carries it.
	VKey string
	// TempDir is where the bundle's files are staged before they are
	// packed. Default os.TempDir().
	TempDir string
	// Progress, if set, is called when a stage begins ("export": entries,
	// "media": files) with its total (0: unknown); it returns a function
	// that counts progress and one that ends the stage.
	Progress func(stage string, total uint64) (add func(n uint64), done func())
}

// An ExportError is a check of the source's answers that failed: the
// server sent something its signed log contradicts. Other errors are the
// source's own (not found, refused, unreachable).
type ExportError struct{ Problem }

func (e *ExportError) Error() string { return e.Problem.String() }

// Export records an export of req and writes its bundle to w as a zip or
// tar archive (format). Nothing is written to w before every entry, proof
// and media file has been fetched and verified; an error after that (w
// failing) leaves w with a cut archive, which does not verify.
func (ex *Exporter) Export(ctx context.Context, req ExportRequest, format string, w io.Writer) (*Manifest, *ExportRecord, error) {
	if format != "zip" && format != "tar" {
		return nil, nil, fmt.Errorf("bundle: unknown archive format %q (zip or tar)", format)
	}
	vkey := strings.TrimSpace(ex.VKey)
	kv, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: verifier key: %v", err)
	}
	var ls LogSource
	if req.All {
		var ok bool
		if ls, ok = ex.Source.(LogSource); !ok {
			return nil, nil, errors.New("bundle: this source exports cases only, not the whole log")
		}
	}
	rec, err := ex.Source.Record(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if req.All != (rec.Scope == ScopeAll) {
		return nil, nil, &ExportError{Problem{What: "the server recorded an export of another scope", Want: scopeOf(req.All), Got: rec.Scope}}
	}
	// One checkpoint covers everything: the smallest that covers the
	// custody entry.
	rb, err := ex.Source.Receipt(ctx, rec.Seq, req.Witnessed)
	if err != nil {
		return nil, nil, err
	}
	var receipt tproof.TLogProof
	if err := receipt.Unmarshal(rb); err != nil {
		return nil, nil, fmt.Errorf("receipt of the custody entry: %v", err)
	}
	custody, err := ex.Source.Entry(ctx, rec.Seq)
	if err != nil {
		return nil, nil, err
	}
	cp, err := checkReceipt(&receipt, custody, kv)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(ex.TempDir, "liuhen-export-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	// Small files stay in memory; entries and media go to dir.
	st := &stage{dir: dir}
	st.put(FileKey, []byte(vkey+"\n"))
	st.put(FileCheckpoint, cp.Note)
	st.put(FileCustody, append(custody, '\n'))
	var sum string
	if req.All {
		sum, err = ex.allEntries(ctx, ls, dir, cp, rec)
	} else {
		receipt.ExtraData = nil
		st.put(ProofPath(rec.Seq), receipt.Marshal())
		sum, err = ex.caseEntries(ctx, st, cp, rec)
	}
	if err != nil {
		return nil, nil, err
	}
	if sum != rec.EntriesSHA256 {
		return nil, nil, &ExportError{Problem{File: FileEntries, What: "the entries the server sent are not those it recorded exporting", Want: rec.EntriesSHA256, Got: sum}}
	}
	if err := ex.media(ctx, dir, rec, req.Purpose); err != nil {
		return nil, nil, err
	}
	m, err := st.pack(w, format, Root(rec.Scope, req.CaseID, cp.Size))
	if err != nil {
		return nil, nil, err
	}
	return m, rec, nil
}

func scopeOf(all bool) string {
	if all {
		return ScopeAll
	}
	return ScopeCase
}

func (ex *Exporter) stage(name string, total uint64) (func(uint64), func()) {
	if ex.Progress == nil {
		return func(uint64) {}, func() {}
	}
	return ex.Progress(name, total)
}

// checkReceipt verifies the receipt of the custody entry: it is entry
// tp.Index, its leaf hash leads by the audit path to the root of the
// checkpoint, and the checkpoint is signed by kv.
func checkReceipt(tp *tproof.TLogProof, entry []byte, kv note.Verifier) (*ledger.Checkpoint, error) {
	cp, err := ledger.OpenCheckpoint(tp.Checkpoint, kv.Name(), kv)
	if err != nil {
		return nil, &ExportError{Problem{File: FileCheckpoint, What: "the server's checkpoint is not signed by the verifier key: " + err.Error()}}
	}
	e, err := ledger.DecodeEntry(entry)
	if err != nil {
		return nil, &ExportError{Problem{File: FileCustody, Seq: seqp(tp.Index), What: "the custody entry does not decode: " + err.Error()}}
	}
	if e.Seq != tp.Index {
		return nil, &ExportError{Problem{File: FileCustody, Seq: seqp(tp.Index), What: "the custody entry is another one than its receipt's",
			Want: fmt.Sprintf("seq %d", tp.Index), Got: fmt.Sprintf("seq %d", e.Seq)}}
	}
	path := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		path[i] = tp.Hashes[i][:]
	}
	leaf := ledger.LeafHash(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, tp.Index, cp.Size, leaf[:], path, cp.Root[:]); err != nil {
		return nil, &ExportError{Problem{File: FileCustody, Seq: seqp(tp.Index),
			What: fmt.Sprintf("the custody entry and its audit path do not lead to the root of the checkpoint of size %d", cp.Size), Want: ledger.Hex(cp.Root)}}
	}
	return cp, nil
}

// caseEntries fetches a case's entries and their proofs in cp, verifying
// each, and returns the SHA-256 of entries.jsonl.
func (ex *Exporter) caseEntries(ctx context.Context, st *stage, cp *ledger.Checkpoint, rec *ExportRecord) (string, error) {
	f, err := os.Create(st.path(FileEntries))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	add, done := ex.stage("export", uint64(len(rec.Entries)))
	defer done()
	for _, seq := range rec.Entries {
		if seq >= cp.Size {
			return "", &ExportError{Problem{Seq: seqp(seq), What: fmt.Sprintf("the server exports an entry its checkpoint of size %d does not cover", cp.Size)}}
		}
		b, err := ex.Source.Entry(ctx, seq)
		if err != nil {
			return "", err
		}
		path, err := ex.Source.InclusionProof(ctx, seq, cp.Size)
		if err != nil {
			return "", err
		}
		leaf := ledger.LeafHash(b)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, cp.Size, leaf[:], path, cp.Root[:]); err != nil {
			return "", &ExportError{Problem{Seq: seqp(seq),
				What: fmt.Sprintf("history rewritten: this entry is not in the signed tree of size %d (its inclusion proof fails)", cp.Size), Want: "root " + ledger.Hex(cp.Root)}}
		}
		tp := tproof.TLogProof{Index: seq, Checkpoint: cp.Note, Hashes: make([][sha256.Size]byte, len(path))}
		for i, x := range path {
			copy(tp.Hashes[i][:], x)
		}
		st.put(ProofPath(seq), tp.Marshal())
		if _, err := w.Write(append(b, '\n')); err != nil {
			return "", err
		}
		add(1)
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

// allEntries streams entries [0, cp.Size) into entries.jsonl, verifying
// them against cp as they come, and returns the SHA-256 of the first
// rec.Size lines.
func (ex *Exporter) allEntries(ctx context.Context, src LogSource, dir string, cp *ledger.Checkpoint, rec *ExportRecord) (string, error) {
	f, err := os.Create(filepath.Join(dir, FileEntries))
	if err != nil {
		return "", err
	}
	defer f.Close()
	v := ledger.NewChainVerifier()
	h := sha256.New()
	add, done := ex.stage("export", cp.Size)
	defer done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(src.Entries(ctx, 0, cp.Size, pw))
	}()
	st := Stream{V: v, Stop: cp.Size, Progress: func(n int) { add(uint64(n)) },
		Entry: func(e *ledger.Entry) error {
			if e.Seq < rec.Size {
				h.Write(e.Bytes)
				h.Write([]byte{'\n'})
			}
			return nil
		}}
	if err := st.Run(ctx, io.TeeReader(pr, f)); err != nil {
		pr.CloseWithError(err)
		return "", chainProblem(err)
	}
	if v.Size() != cp.Size || v.Root() != cp.Root {
		return "", &ExportError{Problem{File: FileEntries, What: "the entries the server sent do not make its signed checkpoint", Want: ledger.Hex(cp.Root), Got: ledger.Hex(v.Root())}}
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

// chainProblem turns a ledger.ChainError into an ExportError; other errors
// pass.
func chainProblem(err error) error {
	var ce *ledger.ChainError
	if errors.As(err, &ce) {
		return &ExportError{Problem{File: FileEntries, Seq: seqp(ce.Seq), Case: ce.Case, What: ce.Explain(), Want: ce.Want, Got: ce.Got}}
	}
	return err
}

// media fetches the media files of the export into media/, each checked
// against its name; the source records each read.
func (ex *Exporter) media(ctx context.Context, dir string, rec *ExportRecord, purpose string) error {
	if len(rec.Media) == 0 {
		return nil
	}
	types, err := mediaTypes(filepath.Join(dir, FileEntries))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "media"), 0o755); err != nil {
		return err
	}
	add, done := ex.stage("media", uint64(len(rec.Media)))
	defer done()
	for _, sha := range rec.Media {
		ct, ok := types[sha]
		if !ok || !lowerHex([]byte(sha)) || len(sha) != 2*sha256.Size {
			return &ExportError{Problem{File: DirMedia + sha, What: "the server exports a media file no exported entry references"}}
		}
		f, err := os.Create(filepath.Join(dir, filepath.FromSlash(MediaPath(sha, ct))))
		if err != nil {
			return err
		}
		h := sha256.New()
		err = ex.Source.Media(ctx, sha, fmt.Sprintf("证据包导出（custody %d）：%s", rec.Seq, purpose), io.MultiWriter(f, h))
		if err == nil {
			if got := hex.EncodeToString(h.Sum(nil)); got != sha {
				err = &ExportError{Problem{File: DirMedia + sha, What: "the server's file does not hash to its name", Want: sha, Got: got}}
			}
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		add(1)
	}
	return nil
}

// mediaTypes maps the media an entries file references to their declared
// content types (the first declaration of each).
func mediaTypes(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	types := map[string]string{}
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if bytes.Contains(line, mediaKey) {
			var r struct {
				Media []struct {
					SHA256      string `json:"sha256"`
					ContentType string `json:"content_type"`
				} `json:"media"`
			}
			if json.Unmarshal(line, &r) == nil {
				for _, m := range r.Media {
					if _, ok := types[m.SHA256]; !ok {
						types[m.SHA256] = m.ContentType
					}
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return types, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
