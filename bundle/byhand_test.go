package bundle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/ledger"
)

// TestVerifyByHand runs the shell steps of a case bundle's VERIFY.md on the
// unpacked bundle, with coreutils, xxd and openssl, as an auditor without
// our software would: every file matches SHA256SUMS, the checkpoint's
// signature verifies, and the audit path of the first entry, walked by the
// shell function, leads to the checkpoint's root.
func TestVerifyByHand(t *testing.T) {
	for _, tool := range []string{"bash", "openssl", "xxd", "sha256sum", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tl := newTestLog(t, 0)
	dir := tl.export(t, ScopeCase, true)
	a := readTar(t, pack(t, dir, "tar"))
	out := t.TempDir()
	for _, n := range a.names {
		p := filepath.Join(out, filepath.FromSlash(n))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, a.files[n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(out, "liuhen-case-x")
	got := runByHand(t, root)
	cp, err := ledger.OpenCheckpoint(a.files["liuhen-case-x/"+FileCheckpoint], testOrigin, mustVerifier(t, tl.vkey))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{": OK", "Signature Verified Successfully", ledger.Hex(cp.Root)} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("VERIFY.md's steps did not print %q:\n%s", want, got)
		}
	}
	if bytes.Contains(got, []byte("FAILED")) {
		t.Errorf("sha256sum -c failed:\n%s", got)
	}
	// The root line printed by root_from_proof is the last line.
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if last := lines[len(lines)-1]; last != ledger.Hex(cp.Root) {
		t.Errorf("root_from_proof printed %q, the checkpoint's root is %s", last, ledger.Hex(cp.Root))
	}
}

// TestVerifyByHandWitnessed: a bundle whose checkpoint carries a witness's
// cosignature says so in VERIFY.md, and its steps check that cosignature
// with openssl too, given the witness's key.
func TestVerifyByHandWitnessed(t *testing.T) {
	for _, tool := range []string{"bash", "openssl", "xxd", "sha256sum", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tl := newTestLog(t, 0)
	w, wvkey, _ := newTestWitness(t, tl, "witness.court.example/w1")
	ex := &Exporter{Source: &ledgerSource{tl: tl, witness: w}, VKey: tl.vkey, TempDir: t.TempDir()}
	path, _, err := exportTo(t, ex, ExportRequest{Purpose: "行政诉讼举证", CaseID: caseA, Witnessed: true}, "tar")
	if err != nil {
		t.Fatal(err)
	}
	a := readTar(t, path)
	out := t.TempDir()
	var root string
	for _, n := range a.names {
		p := filepath.Join(out, filepath.FromSlash(n))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, a.files[n], 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, "/"+FileVerify) {
			root = filepath.Dir(p)
		}
	}
	md, _ := os.ReadFile(filepath.Join(root, FileVerify))
	if !strings.Contains(string(md), "the witnesses `witness.court.example/w1`") {
		t.Fatalf("VERIFY.md does not name the witness:\n%s", md)
	}
	list, _ := os.ReadFile(filepath.Join(root, FileList))
	if !strings.Contains(string(list), "| 见证方联署（cosignature） | witness.court.example/w1（") {
		t.Errorf("电子数据清单.md does not name the witness:\n%s", list)
	}
	if err := os.WriteFile(filepath.Join(root, "witness.vkey"), []byte(wvkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := runByHand(t, root)
	if n := bytes.Count(got, []byte("Signature Verified Successfully")); n != 2 {
		t.Fatalf("VERIFY.md's steps verified %d signatures, want the log's and the witness's:\n%s", n, got)
	}
}

// runByHand runs the ```sh blocks of VERIFY.md in root, in order, with
// bash, and returns their output.
func runByHand(t *testing.T, root string) []byte {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(root, FileVerify))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	in := false
	for _, line := range strings.Split(string(md), "\n") {
		switch {
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in:
			script.WriteString(line + "\n")
		}
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = root
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("VERIFY.md's steps failed: %v\n%s\n--- script:\n%s", err, got, script.String())
	}
	return got
}
