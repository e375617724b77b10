// Package bundle writes and verifies liuhen evidence bundles (证据包): a
// zip or tar archive that carries entries of the ledger with everything
// needed to check them offline, without our software and without
// contacting the server that produced them. docs/bundle.md specifies the
// format; this is its reference implementation.
//
// # Layout
//
// Every file sits under one root directory (its name is free):
//
//	manifest.json        every other file but SHA256SUMS: path, kind, size, SHA-256
//	SHA256SUMS           sha256sum -c input for every other file
//	VERIFY.md            how to check the bundle by hand
//	电子数据清单.md       the human-readable list: item, type, format, size, 完整性校验值
//	log.vkey             the log's verifier key (C2SP vkey)
//	checkpoint.txt       ONE signed checkpoint (C2SP tlog-checkpoint) that covers everything
//	custody.jsonl        the custody.accessed entry the server wrote for this export
//	entries.jsonl        the exported entries, exact bytes, one per line, in seq order
//	proofs/<seq>.tlog-proof   case bundles: each entry's inclusion proof
//	                     (c2sp.org/tlog-proof, carrying checkpoint.txt)
//	media/<sha256>.<ext> optional: media files, named by the SHA-256 of their bytes
//
// A case bundle (scope "case") holds a case's entries and the recordings
// linked to it, each with its proof. A whole-log bundle (scope "all") holds
// entries [0, N) of the log, N the checkpoint's size, and no proofs: the
// verifier recomputes the root. Either way the custody entry states what
// was exported (the SHA-256 of the exported entries and of each media file)
// and is itself proven in the checkpoint, so the files are bound to the
// signed log: manifest.json, SHA256SUMS, VERIFY.md and the 清单 are each a
// function of the other files and are checked byte for byte.
package bundle

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/ledger"
)

// Format is the value of manifest.json's "format".
const Format = "liuhen-bundle/v1"

// Scopes.
const (
	ScopeCase = "case"
	ScopeAll  = "all"
)

// File names, relative to the bundle's root directory.
const (
	FileManifest   = "manifest.json"
	FileSums       = "SHA256SUMS"
	FileVerify     = "VERIFY.md"
	FileList       = "电子数据清单.md"
	FileKey        = "log.vkey"
	FileCheckpoint = "checkpoint.txt"
	FileCustody    = "custody.jsonl"
	FileEntries    = "entries.jsonl"
	DirProofs      = "proofs/"
	DirMedia       = "media/"
)

// File kinds in the manifest.
const (
	KindVerify     = "verify"
	KindList       = "list"
	KindKey        = "key"
	KindCheckpoint = "checkpoint"
	KindCustody    = "custody"
	KindEntries    = "entries"
	KindProof      = "proof"
	KindMedia      = "media"
	KindManifest   = "manifest"
	KindSums       = "sums"
)

// ProofPath is the path of entry seq's proof.
func ProofPath(seq uint64) string { return fmt.Sprintf("%s%012d.tlog-proof", DirProofs, seq) }

// MediaPath is the path of a media file with SHA-256 sha and content type ct.
func MediaPath(sha, ct string) string { return DirMedia + sha + "." + mediaExt(ct) }

func mediaExt(ct string) string {
	switch strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])) {
	case "video/mp4":
		return "mp4"
	case "video/quicktime":
		return "mov"
	case "image/jpeg":
		return "jpg"
	case "image/png":
		return "png"
	case "audio/mpeg":
		return "mp3"
	case "audio/wav", "audio/x-wav":
		return "wav"
	case "application/pdf":
		return "pdf"
	}
	return "bin"
}

// A Manifest describes a bundle. Every member is derived from the other
// files (and the custody entry among them), so the verifier recomputes it
// and compares bytes.
type Manifest struct {
	Format     string  `json:"format"`
	Scope      string  `json:"scope"`
	Case       string  `json:"case_id,omitempty"`
	CaseNumber string  `json:"case_number,omitempty"`
	Origin     string  `json:"origin"`
	Checkpoint Tree    `json:"checkpoint"`
	Entries    uint64  `json:"entries"`
	Custody    Custody `json:"custody"`
	Files      []File  `json:"files"`
}

// A Tree is a checkpoint's size and root.
type Tree struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
}

// Custody is what the custody entry of the export says.
type Custody struct {
	Seq           uint64   `json:"seq"`
	ID            string   `json:"id"`
	RecordedAt    string   `json:"recorded_at"`
	Actor         string   `json:"actor"`
	Purpose       string   `json:"purpose"`
	Size          uint64   `json:"size"`           // the log's size the export was cut at
	EntriesSHA256 string   `json:"entries_sha256"` // of the exported entries, one per line
	Media         []string `json:"media"`          // media files exported
}

// A File is one file of the bundle.
type File struct {
	Path        string  `json:"path"`
	Kind        string  `json:"kind"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	Seq         *uint64 `json:"seq,omitempty"`          // proofs: the entry proven
	ContentType string  `json:"content_type,omitempty"` // media: as the entries declare it
}

// kindOf returns the kind of a path, and for proofs the seq; "" for a path
// that has no place in a bundle.
func kindOf(p string) (string, *uint64) {
	switch p {
	case FileManifest:
		return KindManifest, nil
	case FileSums:
		return KindSums, nil
	case FileVerify:
		return KindVerify, nil
	case FileList:
		return KindList, nil
	case FileKey:
		return KindKey, nil
	case FileCheckpoint:
		return KindCheckpoint, nil
	case FileCustody:
		return KindCustody, nil
	case FileEntries:
		return KindEntries, nil
	}
	if rest, ok := strings.CutPrefix(p, DirProofs); ok && path.Ext(rest) == ".tlog-proof" && len(rest) == 12+len(".tlog-proof") {
		if n, err := strconv.ParseUint(strings.TrimSuffix(rest, ".tlog-proof"), 10, 64); err == nil {
			return KindProof, &n
		}
	}
	if rest, ok := strings.CutPrefix(p, DirMedia); ok && len(rest) > 65 && rest[64] == '.' && lowerHex([]byte(rest[:64])) {
		return KindMedia, nil
	}
	return "", nil
}

// custodyData is the data of the custody.accessed entry an export writes
// (api: POST /v1/exports).
type custodyData struct {
	Actor         string   `json:"actor"`
	Purpose       string   `json:"purpose"`
	Access        string   `json:"access"`
	Scope         string   `json:"scope"`
	CaseID        string   `json:"case_id"`
	Size          uint64   `json:"size"`
	Entries       uint64   `json:"entries"`
	EntriesSHA256 string   `json:"entries_sha256"`
	Media         []string `json:"media"`
}

// parseCustody decodes the custody entry of an export.
func parseCustody(b []byte) (*ledger.Entry, *custodyData, error) {
	e, err := ledger.DecodeEntry(b)
	if err != nil {
		return nil, nil, err
	}
	if e.Type != "custody.accessed" {
		return nil, nil, fmt.Errorf("type is %q, not custody.accessed", e.Type)
	}
	var r struct {
		Data custodyData `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, err
	}
	d := &r.Data
	if d.Access != "export" || (d.Scope != ScopeCase && d.Scope != ScopeAll) || len(d.Media) == 0 || d.Media[0] != d.EntriesSHA256 {
		return nil, nil, fmt.Errorf("not the custody record of an export")
	}
	return e, d, nil
}

// contents is what the derived files are computed from.
type contents struct {
	vkey, origin string
	cp           *ledger.Checkpoint
	custody      *ledger.Entry
	cd           *custodyData
	caseNumber   string
	entries      []entryInfo // case bundles: every entry, for the 清单
	n            uint64      // lines of entries.jsonl
	files        []File      // every file but the four derived ones, sorted by path
}

type entryInfo struct {
	seq        uint64
	typ        string
	occurredAt string
	leaf       ledger.Hash
}

func (c *contents) manifest(derived []File) Manifest {
	m := Manifest{Format: Format, Scope: c.cd.Scope, Case: c.cd.CaseID, CaseNumber: c.caseNumber, Origin: c.origin,
		Checkpoint: Tree{c.cp.Size, ledger.Hex(c.cp.Root)}, Entries: c.n,
		Custody: Custody{Seq: c.custody.Seq, ID: c.custody.ID.String(), RecordedAt: c.custody.RecordedAt.Format(ledger.RecordedAtLayout),
			Actor: c.cd.Actor, Purpose: c.cd.Purpose, Size: c.cd.Size, EntriesSHA256: c.cd.EntriesSHA256, Media: c.cd.Media[1:]},
	}
	if m.Custody.Media == nil {
		m.Custody.Media = []string{}
	}
	m.Files = append(slices.Clone(c.files), derived...)
	slices.SortFunc(m.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return m
}

// manifestBytes is the manifest as written: indented JSON, a final newline.
func manifestBytes(m Manifest) []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // only strings and integers
	}
	return append(b, '\n')
}

// sumsBytes is SHA256SUMS for files, in path order.
func sumsBytes(files []File) []byte {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	return []byte(b.String())
}

func beijing(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006年01月02日 15:04:05（北京时间）")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
