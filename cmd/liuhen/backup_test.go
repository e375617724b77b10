package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/internal/backup"
	"github.com/liuhen/liuhen/ledger"
)

// TestBackupRefusesDamage: liuhen backup keeps a copy only if every byte
// arrived as sent and the ledger in it verifies against the key; a cut, a
// changed byte, a path out of the directory, a forged sum or another key are
// each refused, naming what is wrong.
func TestBackupRefusesDamage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := mustServer(t, data)
	defer s.stop()
	post(t, s, records(0, 300, 400))
	key, err := loadKey(filepath.Join(data, "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.url+"/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken())
	req.Header.Set("Liuhen-Purpose", "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET backup: %d %v", resp.StatusCode, err)
	}
	unpack := func(b []byte) (backup.Manifest, string, error) {
		dir := filepath.Join(t.TempDir(), "b")
		m, _, _, err := backup.Unpack(bytes.NewReader(b), dir, nil)
		return m, dir, err
	}

	m, dir, err := unpack(archive)
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if cp, err := verifyBackup(context.Background(), dir, m, key); err != nil || m.Size != 300 || cp > 300 {
		t.Fatalf("verify: size %d, checkpoint %d, %v", m.Size, cp, err)
	}
	skey, _, _ := ledger.GenerateKey("liuhen.local/other")
	other, _ := ledger.NewSigner(skey)
	otherKey, _ := loadKey(other.VKey)
	if _, err := verifyBackup(context.Background(), dir, m, otherKey); err == nil {
		t.Fatal("a backup verified against another log's key")
	} else {
		t.Logf("another key: %v", err)
	}

	if rep, err := verifyDir(context.Background(), dir, key); err != nil || rep.Size != 300 || rep.Root != m.Root {
		t.Fatalf("verify --dir: %+v, %v", rep, err)
	}
	if _, err := verifyDir(context.Background(), dir, otherKey); err == nil {
		t.Fatal("verify --dir passed with another log's key")
	}

	refuse := func(name string, b []byte, want string) {
		t.Helper()
		_, _, err := unpack(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: unpack = %v, want an error saying %q", name, err, want)
		}
		t.Logf("%s: %v", name, err)
	}
	// (internal/backup's TestUnpackRefuses has the other damages.)
	refuse("cut", archive[:len(archive)/2], "cut")

	// A ledger file changed after the archive's check, as by forged sums:
	// the ledger does not verify.
	var biggest string
	var size int64
	filepath.WalkDir(filepath.Join(dir, backup.LedgerDir), func(p string, d os.DirEntry, err error) error {
		if st, err := os.Stat(p); err == nil && !d.IsDir() && st.Size() > size {
			biggest, size = p, st.Size()
		}
		return nil
	})
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(biggest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyBackup(context.Background(), dir, m, key); err == nil {
		t.Fatalf("a changed byte in %s verified", biggest)
	} else {
		t.Logf("%s changed: %v", biggest, err)
	}
}
