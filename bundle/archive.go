package bundle

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// An archive writer adds files, each at most once, in order.
type archiveWriter interface {
	add(name string, size int64, r io.Reader) error
	close() error
}

// ArchiveFormat returns "zip" or "tar" for a file name, from its extension.
func ArchiveFormat(name string) (string, error) {
	switch {
	case strings.HasSuffix(strings.ToLower(name), ".zip"):
		return "zip", nil
	case strings.HasSuffix(strings.ToLower(name), ".tar"):
		return "tar", nil
	}
	return "", fmt.Errorf("%s: a bundle is a .zip or a .tar", name)
}

// The archives carry a fixed time so that the same bundle packs to the same
// bytes.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func newArchiveWriter(w io.Writer, format string) (archiveWriter, error) {
	switch format {
	case "zip":
		return &zipWriter{zw: zip.NewWriter(w)}, nil
	case "tar":
		return &tarWriter{tw: tar.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("bundle: unknown archive format %q (zip or tar)", format)
}

type zipWriter struct{ zw *zip.Writer }

func (z *zipWriter) add(name string, size int64, r io.Reader) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
	if strings.HasPrefix(name[strings.IndexByte(name, '/')+1:], DirMedia) {
		h.Method = zip.Store // media are compressed already
	}
	h.SetMode(0o644)
	w, err := z.zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	return err
}

func (z *zipWriter) close() error { return z.zw.Close() }

type tarWriter struct{ tw *tar.Writer }

func (t *tarWriter) add(name string, size int64, r io.Reader) error {
	if err := t.tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	n, err := io.Copy(t.tw, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: %d bytes, expected %d", name, n, size)
	}
	return err
}

func (t *tarWriter) close() error { return t.tw.Close() }

// walkArchive calls fn for every regular file of the zip or tar archive at
// path, in archive order. Directories are skipped; anything else (links,
// devices) is reported to fn with a nil reader.
func walkArchive(path string, fn func(name string, size int64, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return fmt.Errorf("%s: not a zip or tar archive", path)
	}
	if bytes.Equal(magic[:], []byte("PK\x03\x04")) || bytes.Equal(magic[:], []byte("PK\x05\x06")) {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/") {
				continue
			}
			if !zf.Mode().IsRegular() {
				if err := fn(zf.Name, 0, nil); err != nil {
					return err
				}
				continue
			}
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("%s: %v", zf.Name, err)
			}
			err = fn(zf.Name, int64(zf.UncompressedSize64), rc)
			if cerr := rc.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("%s: %v", zf.Name, cerr) // a CRC error is a changed byte
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: not a readable zip or tar archive: %v", path, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			if err := fn(h.Name, h.Size, tr); err != nil {
				return err
			}
		default:
			if err := fn(h.Name, 0, nil); err != nil {
				return err
			}
		}
	}
}
