// Package backup is the archive format of a ledger backup, liuhen-backup/1:
// the tar stream GET /v1/admin/backup sends and liuhen backup unpacks
// (docs/operations.md, "Backups").
//
// The archive holds, in order: backup.json (the Manifest), the files the
// manifest lists (log.vkey, tokens.json, then the Pebble files under
// ledger/), and SHA256SUMS last, in sha256sum's format, with the hash of
// every file but the manifest. Every member is a regular file with a
// relative, clean name.
package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Format names the layout.
const Format = "liuhen-backup/1"

// Names of the archive's files; the ledger's Pebble files are under
// LedgerDir.
const (
	ManifestName = "backup.json"
	LedgerDir    = "ledger"
	VKeyName     = "log.vkey"
	TokensName   = "tokens.json"
	SumsName     = "SHA256SUMS"
)

// Manifest is backup.json, the archive's first file.
type Manifest struct {
	Format     string    `json:"format"` // Format
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"` // entries in the copy
	Root       string    `json:"root"` // hex Merkle root of the copy
	Checkpoint string    `json:"checkpoint"`
	CreatedAt  time.Time `json:"created_at"`
	// CustodySeq and CustodyID name the custody.accessed entry that
	// records the backup (not in the copy: it comes after it).
	CustodySeq uint64 `json:"custody_seq"`
	CustodyID  string `json:"custody_id"`
	// Files lists what the archive holds besides backup.json and
	// SHA256SUMS, in order.
	Files []string `json:"files"`
}

// A Writer writes an archive: the manifest, each file it lists with Add,
// then Close adds SHA256SUMS.
type Writer struct {
	tw    *tar.Writer
	mtime time.Time
	want  []string
	sums  strings.Builder
}

// NewWriter writes the manifest to w and returns the writer of the rest.
func NewWriter(w io.Writer, m Manifest) (*Writer, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	bw := &Writer{tw: tar.NewWriter(w), mtime: m.CreatedAt, want: m.Files}
	return bw, bw.put(ManifestName, 0o644, int64(len(b)+1), bytes.NewReader(append(b, '\n')), false)
}

// Add writes the next file the manifest lists: size bytes from r.
func (w *Writer) Add(name string, mode int64, size int64, r io.Reader) error {
	if len(w.want) == 0 || w.want[0] != name {
		return fmt.Errorf("backup: %s is not the next file of the manifest", name)
	}
	w.want = w.want[1:]
	return w.put(name, mode, size, r, true)
}

func (w *Writer) put(name string, mode, size int64, r io.Reader, sum bool) error {
	if err := w.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: w.mtime, Format: tar.FormatPAX}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(w.tw, io.TeeReader(r, h))
	if err == nil && n != size {
		err = fmt.Errorf("backup: %s: %d bytes, want %d", name, n, size)
	}
	if sum {
		fmt.Fprintf(&w.sums, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), name)
	}
	return err
}

// Close writes SHA256SUMS and ends the archive. Every file the manifest
// lists must have been added.
func (w *Writer) Close() error {
	if len(w.want) > 0 {
		return fmt.Errorf("backup: %s was not added", w.want[0])
	}
	s := w.sums.String()
	if err := w.put(SumsName, 0o644, int64(len(s)), strings.NewReader(s), false); err != nil {
		return err
	}
	return w.tw.Close()
}

// Unpack writes an archive's files under dir (created, 0700) and checks
// them as they arrive: the manifest first and of this format, only
// regular files with relative clean names, exactly the files the manifest
// lists in its order, and each with the SHA-256 that SHA256SUMS gives. It
// returns the manifest, the bytes and the number of files written; on an
// error, what was written stays for the caller to remove. tokens.json is
// written with mode 0600. progress, if not nil, is told of every chunk of
// bytes written.
func Unpack(r io.Reader, dir string, progress func(n int)) (Manifest, int64, int, error) {
	var m Manifest
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, 0, 0, err
	}
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	sums := map[string]string{}
	var names []string
	var total int64
	var sumsFile []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, total, len(names), fmt.Errorf("the archive is cut or damaged: %w", err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || sparse(h) || !filepath.IsLocal(filepath.FromSlash(name)) || path.Clean(name) != name || strings.Contains(name, `\`) {
			return m, total, len(names), fmt.Errorf("the archive holds %q, which a backup does not", name)
		}
		if len(names) == 0 && name != ManifestName {
			return m, total, 0, fmt.Errorf("the archive begins with %q, not %s: not a liuhen backup", name, ManifestName)
		}
		if slices.Contains(names, name) {
			return m, total, len(names), fmt.Errorf("the archive holds %s twice", name)
		}
		names = append(names, name)
		var buf []byte
		if name == ManifestName || name == SumsName {
			if buf, err = io.ReadAll(io.LimitReader(tr, 16<<20)); err != nil {
				return m, total, len(names), fmt.Errorf("%s: the archive is cut: %w", name, err)
			}
		}
		switch name {
		case ManifestName:
			if err := json.Unmarshal(buf, &m); err != nil || m.Format != Format {
				return m, total, len(names), fmt.Errorf("%s: not a %s manifest (%v)", name, Format, err)
			}
		case SumsName:
			sumsFile = buf
		}
		mode := os.FileMode(0o644)
		if name == TokensName {
			mode = 0o600
		}
		sum, n, err := writeFile(filepath.Join(dir, filepath.FromSlash(name)), mode, buf, tr, progress)
		total += n
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return m, total, len(names), fmt.Errorf("%s: the archive is cut: %w", name, err)
		}
		if err != nil {
			return m, total, len(names), fmt.Errorf("%s: %w", name, err)
		}
		sums[name] = sum
	}
	if sumsFile == nil {
		return m, total, len(names), errors.New("the archive has no " + SumsName + ": it was cut")
	}
	want := append(append([]string{ManifestName}, m.Files...), SumsName)
	for i := range max(len(names), len(want)) {
		switch {
		case i >= len(names):
			return m, total, len(names), fmt.Errorf("the archive lacks %s, which its manifest lists", want[i])
		case i >= len(want):
			return m, total, len(names), fmt.Errorf("the archive holds %s, which its manifest does not list", names[i])
		case names[i] != want[i]:
			return m, total, len(names), fmt.Errorf("the archive holds %s where its manifest lists %s", names[i], want[i])
		}
	}
	var listed []string
	for line := range strings.Lines(string(sumsFile)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok {
			return m, total, len(names), fmt.Errorf("%s: bad line %q", SumsName, line)
		}
		if got, ok := sums[name]; !ok || got != sum {
			return m, total, len(names), fmt.Errorf("%s: SHA256SUMS says %s, the bytes received hash to %s", name, sum, got)
		}
		listed = append(listed, name)
	}
	if !slices.Equal(listed, m.Files) {
		return m, total, len(names), errors.New(SumsName + " does not list the manifest's files")
	}
	return m, total, len(names), nil
}

// sparse reports whether h is a PAX sparse file, whose holes the tar
// reader would expand: a few bytes of archive could make gigabytes of
// zeros.
func sparse(h *tar.Header) bool {
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// writeFile writes one file, from buf if it was read already or else from
// r, and returns its SHA-256.
func writeFile(p string, mode os.FileMode, buf []byte, r io.Reader, progress func(int)) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	var n int64
	if buf != nil {
		var k int
		k, err = f.Write(buf)
		h.Write(buf)
		n = int64(k)
	} else {
		var dst io.Writer = io.MultiWriter(f, h)
		if progress != nil {
			dst = io.MultiWriter(f, h, progressWriter(progress))
		}
		n, err = io.Copy(dst, r)
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, f.Close()
}

type progressWriter func(int)

func (p progressWriter) Write(b []byte) (int, error) {
	p(len(b))
	return len(b), nil
}
