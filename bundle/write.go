package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
)

// Pack writes the bundle whose evidence files are in dir (log.vkey,
// checkpoint.txt, custody.jsonl, entries.jsonl, proofs/, media/) to w as a
// zip or tar archive under the directory root. It adds VERIFY.md,
// 电子数据清单.md, manifest.json and SHA256SUMS, computed from those files.
// The caller has verified what it put in dir; Pack checks the checkpoint's
// signature and the custody entry, not the proofs.
func Pack(w io.Writer, format, root, dir string) (*Manifest, error) {
	return (&stage{dir: dir}).pack(w, format, root)
}

// A stage holds a bundle's evidence files before they are packed: small
// ones (key, checkpoint, custody, proofs) in memory, the others (entries,
// media) as files under dir. A name is in one or the other.
type stage struct {
	dir string
	mem map[string][]byte
}

func (st *stage) path(name string) string { return filepath.Join(st.dir, filepath.FromSlash(name)) }

// put keeps a small file in memory.
func (st *stage) put(name string, b []byte) {
	if st.mem == nil {
		st.mem = map[string][]byte{}
	}
	st.mem[name] = b
}

func (st *stage) read(name string) ([]byte, error) {
	if b, ok := st.mem[name]; ok {
		return b, nil
	}
	return os.ReadFile(st.path(name))
}

func (st *stage) open(name string) (io.ReadCloser, int64, error) {
	if b, ok := st.mem[name]; ok {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	f, err := os.Open(st.path(name))
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// walk calls fn with the name of every staged file.
func (st *stage) walk(fn func(name string) error) error {
	for name := range st.mem {
		if err := fn(name); err != nil {
			return err
		}
	}
	if st.dir == "" {
		return nil
	}
	return filepath.WalkDir(st.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return fn(filepath.ToSlash(must(filepath.Rel(st.dir, p))))
	})
}

func (st *stage) hash(name string) (string, int64, error) {
	r, _, err := st.open(name)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func (st *stage) pack(w io.Writer, format, root string) (*Manifest, error) {
	aw, err := newArchiveWriter(w, format)
	if err != nil {
		return nil, err
	}
	c := &contents{}
	vk, err := st.read(FileKey)
	if err != nil {
		return nil, err
	}
	c.vkey = strings.TrimSpace(string(vk))
	v, err := note.NewVerifier(c.vkey)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileKey, err)
	}
	c.origin = v.Name()
	cpb, err := st.read(FileCheckpoint)
	if err != nil {
		return nil, err
	}
	if c.cp, err = ledger.OpenCheckpoint(cpb, c.origin, v); err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileCheckpoint, err)
	}
	cb, err := st.read(FileCustody)
	if err != nil {
		return nil, err
	}
	if c.custody, c.cd, err = parseCustody(bytes.TrimSuffix(cb, []byte("\n"))); err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileCustody, err)
	}
	// Evidence files, with their hashes.
	err = st.walk(func(rel string) error {
		kind, seq := kindOf(rel)
		if kind == "" || kind == KindVerify || kind == KindList || kind == KindManifest || kind == KindSums {
			return fmt.Errorf("bundle: %s has no place in a bundle", rel)
		}
		sum, size, err := st.hash(rel)
		if err != nil {
			return err
		}
		c.files = append(c.files, File{Path: rel, Kind: kind, Size: size, SHA256: sum, Seq: seq})
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, _, err := st.open(FileEntries)
	if err != nil {
		return nil, err
	}
	types, err := c.readEntries(f, c.cd.Scope == ScopeCase, len(c.cd.Media) > 1)
	f.Close()
	if err != nil {
		return nil, err
	}
	for i := range c.files {
		if c.files[i].Kind == KindMedia {
			c.files[i].ContentType = types[c.files[i].Path[len(DirMedia):len(DirMedia)+64]]
		}
	}
	slices.SortFunc(c.files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })

	// Derived files.
	vb, lb := c.verifyBytes(), c.listBytes()
	derived := []File{fileOf(FileVerify, KindVerify, vb), fileOf(FileList, KindList, lb)}
	m := c.manifest(derived)
	mb := manifestBytes(m)
	all := append(slices.Clone(m.Files), fileOf(FileManifest, "", mb))
	slices.SortFunc(all, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	sb := sumsBytes(all)

	// Archive order: what a reader needs first comes first.
	add := func(name string, b []byte) error { return aw.add(root+"/"+name, int64(len(b)), bytes.NewReader(b)) }
	for _, x := range []struct {
		name string
		b    []byte
	}{{FileManifest, mb}, {FileSums, sb}, {FileVerify, vb}, {FileList, lb}} {
		if err := add(x.name, x.b); err != nil {
			return nil, err
		}
	}
	order := []string{FileKey, FileCheckpoint, FileCustody}
	for _, f := range c.files {
		if f.Kind == KindProof {
			order = append(order, f.Path)
		}
	}
	order = append(order, FileEntries)
	for _, f := range c.files {
		if f.Kind == KindMedia {
			order = append(order, f.Path)
		}
	}
	for _, name := range order {
		f, size, err := st.open(name)
		if err != nil {
			return nil, err
		}
		err = aw.add(root+"/"+name, size, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return &m, aw.close()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func fileOf(p, kind string, b []byte) File {
	s := sha256.Sum256(b)
	return File{Path: p, Kind: kind, Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])}
}

// readEntries reads entries.jsonl for the derived files: the line count,
// the case number, with detail each entry's facts, and (with media) the
// content type of every media item.
func (c *contents) readEntries(r io.Reader, detail, media bool) (map[string]string, error) {
	types := map[string]string{}
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			c.n++
			if detail || media && bytes.Contains(line, mediaKey) || bytes.Contains(line, []byte(`"case.opened"`)) {
				if err := c.entryFacts(line, detail, types); err != nil {
					return nil, fmt.Errorf("%s line %d: %v", FileEntries, c.n, err)
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

var mediaKey = []byte(`"media":[`)

func (c *contents) entryFacts(line []byte, detail bool, types map[string]string) error {
	var r struct {
		Seq        uint64 `json:"seq"`
		Type       string `json:"type"`
		OccurredAt string `json:"occurred_at"`
		CaseID     string `json:"case_id"`
		Data       struct {
			CaseNumber string `json:"case_number"`
		} `json:"data"`
		Media []struct {
			SHA256      string `json:"sha256"`
			ContentType string `json:"content_type"`
		} `json:"media"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return err
	}
	if r.Type == "case.opened" && r.CaseID == c.cd.CaseID && c.caseNumber == "" {
		c.caseNumber = r.Data.CaseNumber
	}
	for _, m := range r.Media {
		if _, ok := types[m.SHA256]; !ok {
			types[m.SHA256] = m.ContentType
		}
	}
	if detail {
		c.entries = append(c.entries, entryInfo{seq: r.Seq, typ: r.Type, occurredAt: r.OccurredAt, leaf: ledger.LeafHash(line)})
	}
	return nil
}

// Root returns the name of a bundle's root directory for a scope.
func Root(scope, caseID string, size uint64) string {
	if scope == ScopeCase {
		return "liuhen-case-" + caseID
	}
	return fmt.Sprintf("liuhen-log-%d", size)
}
