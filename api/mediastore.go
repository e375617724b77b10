package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/internal/jsonview"
)

// mediaStore is the content-addressed store of media files, on disk:
//
//	DIR/objects/ab/abcdef…   a complete file, named by the SHA-256 of its bytes
//	DIR/partial/abcdef…      a resumable upload in progress (bytes so far)
//	DIR/partial/abcdef….len  its declared length, decimal
//	DIR/tmp/                 one-shot PUT uploads being written
//
// A file enters objects/ only by rename, after its bytes were hashed and
// found equal to its name and fsynced; the directory is fsynced after the
// rename. So objects/ never holds a file whose name is not its hash, and a
// crash leaves a whole file or none. tmp/ is emptied on start; partial/
// survives restarts, which is what makes uploads resumable.
//
// One upload per hash runs at a time (busy); completed files are immutable
// and read without locks.
type mediaStore struct {
	dir string

	mu   sync.Mutex
	busy map[string]bool // guarded by mu: hashes with an upload being written
}

func openMediaStore(dir string) (*mediaStore, error) {
	for _, d := range []string{"objects", "partial", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			return nil, err
		}
	}
	// Leftovers of PUTs cut by a crash: never renamed, so never acknowledged.
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, e := range tmps {
		os.Remove(filepath.Join(dir, "tmp", e.Name()))
	}
	return &mediaStore{dir: dir, busy: make(map[string]bool)}, nil
}

// validSHA256 is the only form a media path accepts: 64 lowercase hex digits.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (m *mediaStore) objectPath(sha string) string {
	return filepath.Join(m.dir, "objects", sha[:2], sha)
}

func (m *mediaStore) partialPath(sha string) string { return filepath.Join(m.dir, "partial", sha) }

// stat returns the size of a complete file.
func (m *mediaStore) stat(sha string) (int64, bool) {
	st, err := os.Stat(m.objectPath(sha))
	if err != nil {
		return 0, false
	}
	return st.Size(), true
}

// open opens a complete file for reading.
func (m *mediaStore) open(sha string) (*os.File, error) { return os.Open(m.objectPath(sha)) }

// lock reserves sha for one upload; ok is false when another holds it.
func (m *mediaStore) lock(sha string) (unlock func(), ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[sha] {
		return nil, false
	}
	m.busy[sha] = true
	return func() {
		m.mu.Lock()
		delete(m.busy, sha)
		m.mu.Unlock()
	}, true
}

// referenced returns the sha256 of every media item of a record.
func referenced(rec jsonview.Value) []string {
	media := rec.Member("media")
	if media.Kind() != jsonview.Array {
		return nil
	}
	var out []string
	for it := media.First(); it.Kind() != jsonview.Missing; it = it.Next() {
		if sha, ok := it.Member("sha256").Str(); ok && validSHA256(sha) {
			out = append(out, sha)
		}
	}
	return out
}

// missing returns those of the media a record references (referenced)
// that are not stored yet.
func (m *mediaStore) missing(refs []string) []string {
	var out []string
	for _, sha := range refs {
		if _, ok := m.stat(sha); !ok {
			out = append(out, sha)
		}
	}
	return out
}

var errHashMismatch = errors.New("hash mismatch")

// put stores r as sha in one go: temp file, hash while writing, compare,
// fsync, rename, fsync the directory. On any failure, including a hash
// mismatch, the temp file is removed: nothing stays.
func (m *mediaStore) put(sha string, r io.Reader, max int64) (int64, error) {
	f, err := os.CreateTemp(filepath.Join(m.dir, "tmp"), sha[:16]+"-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, max+1))
	if err == nil && n > max {
		err = problem(CodeTooLarge, "a media file is at most "+strconv.FormatInt(max, 10)+" bytes")
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != sha {
		err = errHashMismatch
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return n, m.commit(f.Name(), sha)
}

// commit renames a verified, synced file into objects/.
func (m *mediaStore) commit(from, sha string) error {
	dst := m.objectPath(sha)
	dir := filepath.Dir(dst)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := durable.SyncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := os.Rename(from, dst); err != nil {
		return err
	}
	if err := durable.SyncDir(dir); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(from))
}

// partial returns the state of a resumable upload: bytes held and declared
// length. ok is false when there is none.
func (m *mediaStore) partial(sha string) (offset, length int64, ok bool, err error) {
	b, err := os.ReadFile(m.partialPath(sha) + ".len")
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	length, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, 0, false, fmt.Errorf("media: %s.len: %v", sha, err)
	}
	st, err := os.Stat(m.partialPath(sha))
	if errors.Is(err, os.ErrNotExist) {
		return 0, length, true, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	return st.Size(), length, true, nil
}

// startPartial records the declared length of a new resumable upload.
func (m *mediaStore) startPartial(sha string, length int64) error {
	return durable.WriteFile(m.partialPath(sha)+".len", []byte(strconv.FormatInt(length, 10)+"\n"), 0o640)
}

// appendPartial appends r's bytes, up to the declared length, to the upload
// at offset and fsyncs them, also when r fails midway: what the client sees
// as Upload-Offset afterwards is durable.
func (m *mediaStore) appendPartial(sha string, offset, length int64, r io.Reader) (int64, error) {
	f, err := os.OpenFile(m.partialPath(sha), os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return offset, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return offset, err
	}
	n, cerr := io.Copy(f, io.LimitReader(r, length-offset))
	err = f.Sync()
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return offset, err // not synced: report nothing new
	}
	return offset + n, cerr
}

// finishPartial hashes the complete upload as stored. On a match it moves
// it into objects/; on a mismatch it deletes it: nothing stays.
func (m *mediaStore) finishPartial(sha string) error {
	p := m.partialPath(sha)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != sha {
		m.dropPartial(sha)
		return errHashMismatch
	}
	if _, ok := m.stat(sha); ok { // a PUT got there first
		m.dropPartial(sha)
		return nil
	}
	if err := m.commit(p, sha); err != nil {
		return err
	}
	os.Remove(p + ".len")
	return durable.SyncDir(filepath.Dir(p))
}

func (m *mediaStore) dropPartial(sha string) {
	p := m.partialPath(sha)
	os.Remove(p)
	os.Remove(p + ".len")
	durable.SyncDir(filepath.Dir(p))
}
