package api

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/internal/backup"
	"github.com/liuhen/liuhen/ledger"
)

// TestBackup: GET /v1/admin/backup sends, to an admin who says why, a copy
// of the ledger that opens and verifies on its own, with the verifier key,
// the token store and the hashes of everything; a custody entry records
// it; nothing stays staged.
func TestBackup(t *testing.T) {
	stage := filepath.Join(t.TempDir(), "staging")
	f := newFixture(t, func(c *Config) { c.BackupDir = stage })
	for i := range 12 {
		if w := f.post("device", rec("inspection.recorded", "ZFY-1", map[string]any{"id": fmt.Sprintf("0193f0a2-7c1e-7b3a-9d55-%012d", i)})); w.Code != 200 {
			t.Fatalf("post: %d %s", w.Code, w.Body)
		}
	}
	purpose := map[string]string{hdrPurpose: "%E6%AF%8F%E6%97%A5%E5%A4%87%E4%BB%BD"} // 每日备份
	if w := f.do(req{method: "GET", path: "/v1/admin/backup", who: "admin"}); w.Code != 400 || problemCode(t, w) != CodePurposeRequired {
		t.Fatalf("backup without purpose = %d %s", w.Code, w.Body)
	}
	for _, who := range []string{"auditor", "reporter", "device"} {
		if w := f.do(req{method: "GET", path: "/v1/admin/backup", who: who, header: purpose}); w.Code != 403 {
			t.Fatalf("backup by %s = %d", who, w.Code)
		}
	}
	if n := f.l.Head().Size; n != 12 {
		t.Fatalf("size %d after refused backups, want 12", n)
	}

	w := f.do(req{method: "GET", path: "/v1/admin/backup", who: "admin", header: purpose})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/x-tar" {
		t.Fatalf("backup = %d %s %.300s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	out := t.TempDir()
	m, files := untarBackup(t, w.Body, out)
	if m.Format != backup.Format || m.Origin != testOrigin || m.Size != 12 {
		t.Fatalf("manifest %+v", m)
	}
	if !strings.HasPrefix(w.Header().Get("Content-Disposition"), `attachment; filename="liuhen-backup-12.tar"`) || w.Header().Get(hdrSize) != "12" {
		t.Errorf("headers %v", w.Header())
	}
	want := append([]string{backup.ManifestName}, m.Files...)
	want = append(want, backup.SumsName)
	if !slices.Equal(files, want) {
		t.Fatalf("archive holds %v, manifest lists %v", files, want)
	}
	checkSums(t, out, m.Files)
	if b, _ := os.ReadFile(filepath.Join(out, backup.VKeyName)); strings.TrimSpace(string(b)) != f.l.VerifierKey() {
		t.Errorf("log.vkey = %q", b)
	}
	var toks []Token
	if b, err := os.ReadFile(filepath.Join(out, backup.TokensName)); err != nil || json.Unmarshal(b, &toks) != nil || len(toks) != 5 {
		t.Errorf("tokens.json: %v, %d tokens", err, len(toks))
	}

	// The copy: read-only, every entry verified, the same bytes and root.
	c, err := ledger.Open(ledger.Config{Dir: filepath.Join(out, backup.LedgerDir), ReadOnly: true})
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer c.Close()
	rep, err := c.Verify(context.Background())
	if err != nil || rep.Size != 12 || ledger.Hex(rep.Root) != m.Root {
		t.Fatalf("Verify of the backup: %+v, %v; manifest root %s", rep, err, m.Root)
	}
	cp, err := ledger.OpenCheckpoint([]byte(m.Checkpoint), testOrigin, f.l.Verifier())
	if err != nil || cp.Size > 12 {
		t.Fatalf("manifest checkpoint: %+v %v", cp, err)
	}

	// The custody entry, after the copy.
	if m.CustodySeq != 12 || w.Header().Get(hdrCustodySeq) != strconv.FormatUint(m.CustodySeq, 10) || f.l.Head().Size != 13 {
		t.Fatalf("custody seq %d (header %s), ledger size %d", m.CustodySeq, w.Header().Get(hdrCustodySeq), f.l.Head().Size)
	}
	b, _ := f.l.EntryAt(m.CustodySeq)
	var e struct {
		ID, Type string
		Data     struct {
			Actor, Purpose, Role, Access, Root string
			Size                               uint64
			Media                              []string
		}
	}
	mustJSON(t, b, &e)
	if e.Type != "custody.accessed" || e.ID != m.CustodyID || e.Data.Actor != "test admin" || e.Data.Role != "admin" || e.Data.Access != "backup" ||
		e.Data.Purpose != "每日备份" || e.Data.Size != 12 || e.Data.Root != m.Root || len(e.Data.Media) != 1 || e.Data.Media[0] != m.Root {
		t.Errorf("custody entry %s", b)
	}
	if left, _ := os.ReadDir(stage); len(left) != 0 {
		t.Errorf("staging holds %v after the backup", left)
	}
	metrics := f.do(req{method: "GET", path: "/metrics"}).Body.String()
	for _, want := range []string{`liuhen_backups_total{result="sent"} 1`, `liuhen_backups_total{result="failed"} 0`,
		`liuhen_backups_total{result="cut"} 0`, "liuhen_backup_last_success_entries 12", "liuhen_backup_last_success_timestamp_seconds 1."} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// No staging directory: unavailable, and nothing recorded.
	g := newFixture(t)
	if w := g.do(req{method: "GET", path: "/v1/admin/backup", who: "admin", header: purpose}); w.Code != 503 || problemCode(t, w) != CodeUnavailable {
		t.Fatalf("backup without BackupDir = %d %s", w.Code, w.Body)
	}
	if n := g.l.Head().Size; n != 0 {
		t.Fatalf("size %d after an unavailable backup", n)
	}
	if m := g.do(req{method: "GET", path: "/metrics"}).Body.String(); !strings.Contains(m, `liuhen_backups_total{result="failed"} 1`) ||
		!strings.Contains(m, "liuhen_backup_last_success_timestamp_seconds 0") {
		t.Errorf("/metrics after an unavailable backup:\n%s", m)
	}
}

// untarBackup unpacks a backup archive into dir and returns its manifest
// and its file names in order.
func untarBackup(t *testing.T, r io.Reader, dir string) (backup.Manifest, []string) {
	t.Helper()
	var m backup.Manifest
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		names = append(names, h.Name)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if h.Name == backup.ManifestName {
			mustJSON(t, b, &m)
		}
	}
	return m, names
}

// checkSums checks SHA256SUMS against the unpacked files, which it must list
// exactly.
func checkSums(t *testing.T, dir string, files []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, backup.SumsName))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file hashes to %x", name, sum, h)
		}
		listed = append(listed, name)
	}
	if !slices.Equal(listed, files) {
		t.Errorf("SHA256SUMS lists %v, want %v", listed, files)
	}
}
