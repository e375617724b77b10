package durable

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFile: the file is replaced whole, with its mode, and no
// temporary file stays behind.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tokens.json")
	for _, data := range []string{"first\n", "second, longer\n", ""} {
		if err := WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != data {
			t.Fatalf("read %q, %v; want %q", b, err, data)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode())
		}
		if es, _ := os.ReadDir(dir); len(es) != 1 {
			t.Fatalf("the directory holds %d entries, want 1", len(es))
		}
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
}

func TestSyncTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SyncTree(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncTree(filepath.Join(dir, "none")); err == nil {
		t.Fatal("SyncTree of a missing directory succeeded")
	}
}
