package api

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/ledger"
)

// BackupFormat names the layout of the archive GET /v1/admin/backup sends
// (docs/operations.md, "Backups").
const BackupFormat = "liuhen-backup/1"

// BackupManifest is backup.json, the first file of a backup archive.
type BackupManifest struct {
	Format     string    `json:"format"` // BackupFormat
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"` // entries in the copy
	Root       string    `json:"root"` // hex Merkle root of the copy
	Checkpoint string    `json:"checkpoint"`
	CreatedAt  time.Time `json:"created_at"`
	// CustodySeq and CustodyID name the custody.accessed entry that
	// records the backup (not in the copy: it comes after it).
	CustodySeq uint64 `json:"custody_seq"`
	CustodyID  string `json:"custody_id"`
	// Files lists what the archive holds besides backup.json, in order.
	// SHA256SUMS, last, holds their hashes.
	Files []string `json:"files"`
}

// Names of the backup archive's files; the ledger's Pebble files are under
// BackupLedgerDir.
const (
	BackupManifestName = "backup.json"
	BackupLedgerDir    = "ledger"
	BackupVKeyName     = "log.vkey"
	BackupTokensName   = "tokens.json"
	BackupSumsName     = "SHA256SUMS"
)

// backup is GET /v1/admin/backup: a consistent copy of the running ledger
// (ledger.Backup) with the verifier key and the token store, as a tar
// stream. Before a byte is sent, a custody.accessed entry records who took
// it and why (Liuhen-Purpose), with the copy's size and root. Media files
// and the signing key are not included.
func (s *Server) backup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	purpose, err := purposeOf(r, "a backup")
	if err != nil {
		return err
	}
	if s.cfg.BackupDir == "" {
		return problem(CodeUnavailable, "this server has no staging directory for backups (api.Config.BackupDir)")
	}
	if err := os.MkdirAll(s.cfg.BackupDir, 0o700); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(s.cfg.BackupDir, "backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	start := time.Now()
	head, cp, err := s.l.Backup(filepath.Join(stage, BackupLedgerDir))
	if err != nil {
		return err
	}
	tokens, err := s.cfg.Tokens.Snapshot()
	if err != nil {
		return err
	}
	root := ledger.Hex(head.Root)
	res, id, err := s.appendServerRecord(r, map[string]any{
		"actor":    tok.Name,
		"token_id": tok.ID,
		"role":     tok.Role.String(),
		"access":   "backup",
		"purpose":  purpose,
		"size":     head.Size,
		"root":     root,
		// The copy is known by its Merkle root, as an export by the
		// SHA-256 of its entries file.
		"media": []string{root},
	})
	if err != nil {
		return err
	}
	var files []string
	err = filepath.WalkDir(filepath.Join(stage, BackupLedgerDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	m := BackupManifest{
		Format: BackupFormat, Origin: s.l.Origin(), Size: head.Size, Root: root, Checkpoint: string(cp.Note),
		CreatedAt: s.cfg.Now().UTC(), CustodySeq: res.Seq, CustodyID: id,
		Files: append([]string{BackupVKeyName, BackupTokensName}, files...),
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	s.cfg.Logger.Info("backup staged", "size", head.Size, "root", root, "files", len(files), "took", time.Since(start), "custody_seq", res.Seq)

	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", `attachment; filename="liuhen-backup-`+strconv.FormatUint(head.Size, 10)+`.tar"`)
	h.Set("Cache-Control", "no-store")
	h.Set(hdrCustodySeq, strconv.FormatUint(res.Seq, 10))
	h.Set(hdrCustodyID, id)
	h.Set(hdrSize, strconv.FormatUint(head.Size, 10))
	// The copy may take long to send; each write must progress within
	// MediaIdleTimeout, as a media download's.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(&progressWriter{ResponseWriter: w, s: s})
	mtime := m.CreatedAt
	var sums strings.Builder
	put := func(name string, mode int64, size int64, body io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		sum := sha256.New()
		n, err := io.Copy(tw, io.TeeReader(body, sum))
		if err == nil && n != size {
			err = fmt.Errorf("api: backup: %s: %d bytes, want %d", name, n, size)
		}
		if name != BackupManifestName {
			fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum.Sum(nil)), name)
		}
		return err
	}
	putBytes := func(name string, mode int64, b []byte) error {
		return put(name, mode, int64(len(b)), bytes.NewReader(b))
	}
	err = putBytes(BackupManifestName, 0o644, append(mb, '\n'))
	if err == nil {
		err = putBytes(BackupVKeyName, 0o644, []byte(s.l.VerifierKey()+"\n"))
	}
	if err == nil {
		err = putBytes(BackupTokensName, 0o600, tokens)
	}
	for _, name := range files {
		if err != nil {
			break
		}
		err = putFile(put, filepath.Join(stage, filepath.FromSlash(name)), name)
	}
	if err == nil {
		err = putBytes(BackupSumsName, 0o644, []byte(sums.String()))
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// The answer has started: all the client can see is a cut stream,
		// which its tar reader reports.
		s.cfg.Logger.Warn("backup cut", "size", head.Size, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.cfg.Logger.Info("backup sent", "size", head.Size, "root", root, "took", time.Since(start))
	return nil
}

func putFile(put func(string, int64, int64, io.Reader) error, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return put(name, 0o644, st.Size(), f)
}
