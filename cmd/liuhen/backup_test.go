package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
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

	members := readTar(t, archive)
	biggest := ""
	for _, mb := range members {
		if strings.HasPrefix(mb.h.Name, "ledger/") && (biggest == "" || len(mb.data) > len(find(members, biggest).data)) {
			biggest = mb.h.Name
		}
	}
	refuse := func(name string, b []byte, want string) {
		t.Helper()
		_, _, err := unpack(b)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: unpack = %v, want an error saying %q", name, err, want)
		}
		t.Logf("%s: %v", name, err)
	}
	refuse("cut", archive[:len(archive)/2], "cut")
	refuse("changed byte", writeTar(t, members, func(mb *member) {
		if mb.h.Name == biggest {
			mb.data[len(mb.data)/2] ^= 1
		}
	}), biggest+": SHA256SUMS says")
	refuse("escape", writeTar(t, members, func(mb *member) {
		if mb.h.Name == backup.VKeyName {
			mb.h.Name = "../log.vkey"
		}
	}), `"../log.vkey"`)
	refuse("missing file", writeTar(t, members, func(mb *member) {
		if mb.h.Name == backup.TokensName {
			mb.h.Name = "ledger/tokens-renamed"
		}
	}), "manifest")

	// A changed ledger file whose sum was forged to match: the archive
	// checks, the ledger does not.
	forged := writeTar(t, members, func(mb *member) {
		if mb.h.Name == biggest {
			mb.data[len(mb.data)/2] ^= 1
		}
	})
	fm := readTar(t, forged)
	sum := sha256.Sum256(find(fm, biggest).data)
	sums := find(fm, backup.SumsName)
	var lines []string
	for line := range strings.Lines(string(sums.data)) {
		if strings.HasSuffix(line, "  "+biggest+"\n") {
			line = fmt.Sprintf("%x  %s\n", sum, biggest)
		}
		lines = append(lines, line)
	}
	sums.data = []byte(strings.Join(lines, ""))
	m, dir, err = unpack(writeTar(t, fm, func(*member) {}))
	if err != nil {
		t.Fatalf("unpack of the forged archive: %v", err)
	}
	if _, err := verifyBackup(context.Background(), dir, m, key); err == nil {
		t.Fatalf("a changed byte in %s verified", biggest)
	} else {
		t.Logf("forged sum, %s changed: %v", biggest, err)
	}
}

type member struct {
	h    *tar.Header
	data []byte
}

func readTar(t *testing.T, b []byte) []*member {
	t.Helper()
	var out []*member
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &member{h, data})
	}
}

// writeTar writes copies of members, each changed by f.
func writeTar(t *testing.T, members []*member, f func(*member)) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := *m.h
		c := &member{&h, bytes.Clone(m.data)}
		f(c)
		c.h.Size = int64(len(c.data))
		if err := tw.WriteHeader(c.h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(c.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func find(ms []*member, name string) *member {
	for _, m := range ms {
		if m.h.Name == name {
			return m
		}
	}
	return nil
}
