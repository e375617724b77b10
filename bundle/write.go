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
	aw, err := newArchiveWriter(w, format)
	if err != nil {
		return nil, err
	}
	c := &contents{}
	vk, err := os.ReadFile(filepath.Join(dir, FileKey))
	if err != nil {
		return nil, err
	}
	c.vkey = strings.TrimSpace(string(vk))
	v, err := note.NewVerifier(c.vkey)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileKey, err)
	}
	c.origin = v.Name()
	cpb, err := os.ReadFile(filepath.Join(dir, FileCheckpoint))
	if err != nil {
		return nil, err
	}
	if c.cp, err = ledger.OpenCheckpoint(cpb, c.origin, v); err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileCheckpoint, err)
	}
	cb, err := os.ReadFile(filepath.Join(dir, FileCustody))
	if err != nil {
		return nil, err
	}
	if c.custody, c.cd, err = parseCustody(bytes.TrimSuffix(cb, []byte("\n"))); err != nil {
		return nil, fmt.Errorf("bundle: %s: %v", FileCustody, err)
	}
	// Evidence files, with their hashes.
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(must(filepath.Rel(dir, p)))
		kind, seq := kindOf(rel)
		if kind == "" || kind == KindVerify || kind == KindList || kind == KindManifest || kind == KindSums {
			return fmt.Errorf("bundle: %s has no place in a bundle", rel)
		}
		sum, size, err := hashFile(p)
		if err != nil {
			return err
		}
		c.files = append(c.files, File{Path: rel, Kind: kind, Size: size, SHA256: sum, Seq: seq})
		return nil
	})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, FileEntries))
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
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil {
			err = aw.add(root+"/"+name, st.Size(), f)
		}
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

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
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
