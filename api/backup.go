package api

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/liuhen/liuhen/internal/backup"
	"github.com/liuhen/liuhen/ledger"
)

// getBackup is GET /v1/admin/backup: a consistent copy of the running
// ledger (ledger.Backup) with the verifier key and the token store, as a
// liuhen-backup/1 archive (internal/backup). Before a byte is sent, a
// custody.accessed entry records who took it and why (Liuhen-Purpose), with
// the copy's size and root. Media files and the signing key are not
// included. /metrics counts the outcomes.
func (s *Server) getBackup(w http.ResponseWriter, r *http.Request, tok *Token) error {
	sent, err := s.sendBackup(w, r, tok)
	switch {
	case err == nil:
		s.metrics.backups.WithLabelValues("sent").Inc()
		s.metrics.backupLast.Set(float64(s.cfg.Now().UnixNano()) / 1e9)
		s.metrics.backupSize.Set(float64(sent))
	case errors.Is(err, errBackupCut):
		s.metrics.backups.WithLabelValues("cut").Inc()
		panic(http.ErrAbortHandler) // all the client can see is a cut stream
	default:
		if p, ok := err.(*Problem); !ok || p.Code != CodePurposeRequired {
			s.metrics.backups.WithLabelValues("failed").Inc()
		}
	}
	return err
}

// errBackupCut: the archive had started when sending it failed.
var errBackupCut = errors.New("api: backup cut")

// sendBackup answers with the archive and returns the entries it holds.
func (s *Server) sendBackup(w http.ResponseWriter, r *http.Request, tok *Token) (uint64, error) {
	purpose, err := purposeOf(r, "a backup")
	if err != nil {
		return 0, err
	}
	if s.cfg.BackupDir == "" {
		return 0, problem(CodeUnavailable, "this server has no staging directory for backups (api.Config.BackupDir)")
	}
	if err := os.MkdirAll(s.cfg.BackupDir, 0o700); err != nil {
		return 0, err
	}
	stage, err := os.MkdirTemp(s.cfg.BackupDir, "backup-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(stage)
	start := time.Now()
	head, cp, err := s.l.Backup(filepath.Join(stage, backup.LedgerDir))
	if err != nil {
		return 0, err
	}
	tokens, err := s.cfg.Tokens.Snapshot()
	if err != nil {
		return 0, err
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
		return 0, err
	}
	var files []string
	err = filepath.WalkDir(filepath.Join(stage, backup.LedgerDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return 0, err
	}
	m := backup.Manifest{
		Format: backup.Format, Origin: s.l.Origin(), Size: head.Size, Root: root, Checkpoint: string(cp.Note),
		CreatedAt: s.cfg.Now().UTC(), CustodySeq: res.Seq, CustodyID: id,
		Files: append([]string{backup.VKeyName, backup.TokensName}, files...),
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
	bw, err := backup.NewWriter(&progressWriter{ResponseWriter: w, s: s}, m)
	if err == nil {
		vkey := []byte(s.l.VerifierKey() + "\n")
		err = bw.Add(backup.VKeyName, 0o644, int64(len(vkey)), bytes.NewReader(vkey))
	}
	if err == nil {
		err = bw.Add(backup.TokensName, 0o600, int64(len(tokens)), bytes.NewReader(tokens))
	}
	for _, name := range files {
		if err != nil {
			break
		}
		err = addFile(bw, filepath.Join(stage, filepath.FromSlash(name)), name)
	}
	if err == nil {
		err = bw.Close()
	}
	if err != nil {
		s.cfg.Logger.Warn("backup cut", "size", head.Size, "err", err)
		return 0, fmt.Errorf("%w: %v", errBackupCut, err)
	}
	s.cfg.Logger.Info("backup sent", "size", head.Size, "root", root, "took", time.Since(start))
	return head.Size, nil
}

func addFile(bw *backup.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return bw.Add(name, 0o644, st.Size(), f)
}
