package backup

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var testFiles = []struct {
	name string
	mode int64
	data []byte
}{
	{VKeyName, 0o644, []byte("liuhen.local/x+1234+AAAA\n")},
	{TokensName, 0o600, []byte("[]\n")},
	{"ledger/000001.log", 0o644, bytes.Repeat([]byte{7}, 1000)},
	{"ledger/MANIFEST-000002", 0o644, []byte("m")},
}

// archive writes testFiles as an archive, each changed by f.
func archive(t testing.TB, f func(name string, b []byte) []byte) []byte {
	t.Helper()
	m := Manifest{Format: Format, Origin: "liuhen.local/x", Size: 1, CreatedAt: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	for _, tf := range testFiles {
		m.Files = append(m.Files, tf.name)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tf := range testFiles {
		b := f(tf.name, bytes.Clone(tf.data))
		if err := w.Add(tf.name, tf.mode, int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func same(_ string, b []byte) []byte { return b }

// TestRoundTrip: what Writer writes, Unpack reads back whole, with
// SHA256SUMS as sha256sum writes it and tokens.json private.
func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	var progress int
	m, n, files, err := Unpack(bytes.NewReader(archive(t, same)), dir, func(k int) { progress += k })
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin != "liuhen.local/x" || files != len(testFiles)+2 || progress < 1000 {
		t.Fatalf("manifest %+v, %d files, %d bytes, progress %d", m, files, n, progress)
	}
	var sums strings.Builder
	for _, tf := range testFiles {
		b, err := os.ReadFile(filepath.Join(dir, tf.name))
		if err != nil || !bytes.Equal(b, tf.data) {
			t.Fatalf("%s: %v", tf.name, err)
		}
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(tf.data), tf.name)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SumsName)); string(b) != sums.String() {
		t.Fatalf("SHA256SUMS:\n%s\nwant\n%s", b, sums.String())
	}
	if st, err := os.Stat(filepath.Join(dir, TokensName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("tokens.json mode %v, %v", st.Mode(), err)
	}
}

// TestWriterOrder: a Writer takes exactly the manifest's files, in order.
func TestWriterOrder(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Manifest{Format: Format, Files: []string{"a", "b"}})
	if err := w.Add("b", 0o644, 0, bytes.NewReader(nil)); err == nil {
		t.Fatal("Add out of order succeeded")
	}
	if err := w.Add("a", 0o644, 1, bytes.NewReader(nil)); err == nil {
		t.Fatal("Add of fewer bytes than its size succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close before every file succeeded")
	}
}

// TestUnpackRefuses names what is wrong with an archive.
func TestUnpackRefuses(t *testing.T) {
	good := archive(t, same)
	members := readTar(t, good)
	rewrite := func(f func([]*tarMember) []*tarMember) []byte { return writeTar(t, f(clone(members))) }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "no SHA256SUMS"},
		{"cut", good[:len(good)/2], "cut"},
		{"changed byte", rewrite(func(ms []*tarMember) []*tarMember { ms[3].data[500] ^= 1; return ms }), "ledger/000001.log: SHA256SUMS says"},
		{"escape", rewrite(func(ms []*tarMember) []*tarMember { ms[1].h.Name = "../log.vkey"; return ms }), `"../log.vkey"`},
		{"absolute", rewrite(func(ms []*tarMember) []*tarMember { ms[1].h.Name = "/etc/x"; return ms }), `"/etc/x"`},
		{"unclean", rewrite(func(ms []*tarMember) []*tarMember { ms[3].h.Name = "ledger/../ledger/000001.log"; return ms }), "which a backup does not"},
		{"symlink", rewrite(func(ms []*tarMember) []*tarMember {
			ms[1].h.Typeflag, ms[1].h.Linkname, ms[1].data, ms[1].h.Size = tar.TypeSymlink, "/etc/passwd", nil, 0
			return ms
		}), "which a backup does not"},
		{"manifest not first", rewrite(func(ms []*tarMember) []*tarMember { ms[0], ms[1] = ms[1], ms[0]; return ms }), "not a liuhen backup"},
		{"twice", rewrite(func(ms []*tarMember) []*tarMember { return append(ms[:3], ms[2:]...) }), "twice"},
		{"missing", rewrite(func(ms []*tarMember) []*tarMember { return append(ms[:2], ms[3:]...) }), "where its manifest lists tokens.json"},
		{"extra", rewrite(func(ms []*tarMember) []*tarMember {
			return append(ms[:len(ms)-1], &tarMember{&tar.Header{Name: "ledger/x", Typeflag: tar.TypeReg}, nil}, ms[len(ms)-1])
		}), "ledger/x"},
		{"other format", rewrite(func(ms []*tarMember) []*tarMember {
			ms[0].data = bytes.Replace(ms[0].data, []byte(Format), []byte("liuhen-backup/9"), 1)
			return ms
		}), "not a liuhen-backup/1 manifest"},
	} {
		_, _, _, err := Unpack(bytes.NewReader(c.b), filepath.Join(t.TempDir(), "b"), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Unpack = %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// FuzzUnpack: whatever the stream, Unpack writes nothing outside its
// directory and never panics; a stream it accepts is the manifest's files
// exactly, each with the SHA-256 SHA256SUMS gives it.
func FuzzUnpack(f *testing.F) {
	good := archive(f, same)
	f.Add(good)
	f.Add(good[:len(good)-1024])
	f.Add(archive(f, func(n string, b []byte) []byte {
		if n == TokensName {
			return []byte("[1]\n")
		}
		return b
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "in", "b")
		m, _, _, err := Unpack(bytes.NewReader(b), dir, nil)
		if rest, _ := os.ReadDir(root); len(rest) > 1 {
			t.Fatalf("Unpack wrote outside its directory: %v", rest)
		}
		if rest, _ := os.ReadDir(filepath.Join(root, "in")); len(rest) > 1 {
			t.Fatalf("Unpack wrote outside its directory: %v", rest)
		}
		if err != nil {
			return
		}
		sums, err := os.ReadFile(filepath.Join(dir, SumsName))
		if err != nil {
			t.Fatalf("accepted without %s: %v", SumsName, err)
		}
		var listed []string
		for line := range strings.Lines(string(sums)) {
			sum, name, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil || fmt.Sprintf("%x", sha256.Sum256(data)) != sum {
				t.Fatalf("accepted %s, which does not hash to %s (%v)", name, sum, err)
			}
			listed = append(listed, name)
		}
		if !slices.Equal(listed, m.Files) {
			t.Fatalf("accepted files %v, manifest %v", listed, m.Files)
		}
	})
}

type tarMember struct {
	h    *tar.Header
	data []byte
}

func readTar(t *testing.T, b []byte) []*tarMember {
	t.Helper()
	var out []*tarMember
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			return out
		}
		var data bytes.Buffer
		data.ReadFrom(tr)
		out = append(out, &tarMember{h, data.Bytes()})
	}
}

func clone(ms []*tarMember) []*tarMember {
	out := make([]*tarMember, len(ms))
	for i, m := range ms {
		h := *m.h
		out[i] = &tarMember{&h, bytes.Clone(m.data)}
	}
	return out
}

func writeTar(t *testing.T, ms []*tarMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		if m.h.Typeflag == tar.TypeReg {
			m.h.Size = int64(len(m.data))
		}
		if err := tw.WriteHeader(m.h); err != nil {
			t.Fatal(err)
		}
		tw.Write(m.data)
	}
	tw.Close()
	return buf.Bytes()
}
