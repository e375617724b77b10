package main

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/liuhen/liuhen/api"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["backup"] = command{"take a consistent, verified backup of a running server's ledger", runBackup}
}

const backupUsage = `
usage: liuhen backup --out DIR [--key VKEY] [--purpose TEXT] [--server URL] [--token TOKEN] [--json]

Take a backup of a running server's ledger while it serves (GET
/v1/admin/backup, admin token): a copy of the ledger as of one moment, with
every entry acknowledged before it, its indexes, tree hashes and signed
checkpoints, plus the verifier key (log.vkey) and the token store
(tokens.json). The server records the backup in the ledger
(custody.accessed, with --purpose).

The copy is unpacked into DIR.partial and kept only once it has been
checked: every file against the archive's SHA256SUMS, then the ledger
opened read-only and verified whole (every entry re-hashed, the chains,
indexes and tree, the latest checkpoint's signature) against --key. Then
DIR.partial becomes DIR, every file fsynced. DIR must not exist.

  --key VKEY   the log's verifier key you trust (a file holding the vkey
               line, or the line; default $LIUHEN_KEY). Without it the copy
               is checked against the log.vkey it came with, which proves it
               whole but not whose it is.

Not included: media files (media/objects/ may be copied with rsync while the
server runs; each file there is complete and never changes) and the signing
key (keep it offline). To restore: stop the server, put DIR/ledger in place
of DATA/ledger (and DIR/tokens.json as DATA/tokens.json), start it; if its
JetStream streams kept later entries, serve says so and liuhen recover
appends them (docs/operations.md, "Restoring").
`

// backupSummary is --json's output.
type backupSummary struct {
	Dir           string  `json:"dir"`
	Origin        string  `json:"origin"`
	Size          uint64  `json:"size"`
	Root          string  `json:"root"`
	Checkpoint    uint64  `json:"checkpoint_size"`
	CustodySeq    uint64  `json:"custody_seq"`
	Bytes         int64   `json:"bytes"`
	Files         int     `json:"files"`
	KeyFrom       string  `json:"key_from"` // "--key" or "backup"
	Seconds       float64 `json:"seconds"`
	VerifySeconds float64 `json:"verify_seconds"`
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	co := addClientFlags(fs)
	out := fs.String("out", "", "the `dir`ectory to write the backup to; must not exist")
	keyArg := fs.String("key", os.Getenv("LIUHEN_KEY"), "verifier key: a `file` holding the log's vkey line, or the line itself (default $LIUHEN_KEY)")
	purpose := fs.String("purpose", "backup", "why the backup is taken, recorded by the server in custody.accessed")
	asJSON := fs.Bool("json", false, "print a JSON summary")
	usageFunc(fs, stderr, backupUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if *out == "" {
		fs.Usage()
		return errUsage
	}
	var key *trustKey
	if *keyArg != "" {
		k, err := loadKey(*keyArg)
		if err != nil {
			return err
		}
		key = k
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s exists; name a new directory", *out)
	}
	partial := *out + ".partial"
	if err := os.RemoveAll(partial); err != nil { // a cut earlier run
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := c.do(ctx, "GET", "/v1/admin/backup", nil, http.Header{"Liuhen-Purpose": {url.PathEscape(*purpose)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	p := newProgress(stderr, "backup", 0, *asJSON)
	m, n, nfiles, err := unpackBackup(resp.Body, partial, p)
	p.finish()
	if err != nil {
		os.RemoveAll(partial)
		return err
	}
	vstart := time.Now()
	keyFrom := "--key"
	if key == nil {
		keyFrom = "backup"
		b, err := os.ReadFile(filepath.Join(partial, api.BackupVKeyName))
		if err != nil {
			return err
		}
		if key, err = loadKey(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("the backup's %s: %w", api.BackupVKeyName, err)
		}
	}
	cpSize, err := verifyBackup(ctx, partial, m, key)
	if err != nil {
		// Kept for inspection, under its .partial name.
		return fmt.Errorf("the copy in %s does not verify: %w", partial, err)
	}
	vtime := time.Since(vstart)
	if err := syncTree(partial); err != nil {
		return err
	}
	if err := os.Rename(partial, *out); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(*out)); err != nil {
		return err
	}
	s := backupSummary{Dir: *out, Origin: m.Origin, Size: m.Size, Root: m.Root, Checkpoint: cpSize, CustodySeq: m.CustodySeq,
		Bytes: n, Files: nfiles, KeyFrom: keyFrom, Seconds: time.Since(start).Seconds(), VerifySeconds: vtime.Seconds()}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(s)
	}
	fmt.Fprintf(stdout, "liuhen backup: %s entries of %s, root %s, in %s (%.1f MB, %d files, %.1fs)\n",
		thousands(s.Size), s.Origin, s.Root, s.Dir, float64(s.Bytes)/1e6, s.Files, s.Seconds)
	fmt.Fprintf(stdout, "verified: every entry, chain, index and tree hash, and the checkpoint of size %d, against the key from %s (%.1fs)\n", cpSize, keyFrom, vtime.Seconds())
	if keyFrom == "backup" {
		fmt.Fprintln(stdout, "note: checked against the log.vkey that came with the backup; pass --key with the key you trust to check whose log it is")
	}
	fmt.Fprintf(stdout, "recorded by the server as custody.accessed at seq %d\n", s.CustodySeq)
	fmt.Fprintln(stdout, "not included: media/ (copy it with rsync) and signing.key (keep it offline)")
	return nil
}

// unpackBackup writes the archive's files under dir, checks each against
// SHA256SUMS and the manifest's list, and returns the manifest, the bytes
// and the number of files written.
func unpackBackup(r io.Reader, dir string, p *progress) (api.BackupManifest, int64, int, error) {
	var m api.BackupManifest
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, 0, 0, err
	}
	tr := tar.NewReader(bufio.NewReaderSize(r, 1<<20))
	sums := map[string]string{}
	var names []string
	var total int64
	var sumsFile []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, total, len(names), fmt.Errorf("the archive is cut or damaged: %w", err)
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(filepath.FromSlash(name)) || path.Clean(name) != name {
			return m, total, len(names), fmt.Errorf("the archive holds %q, which a backup does not", name)
		}
		if len(names) == 0 && name != api.BackupManifestName {
			return m, total, 0, fmt.Errorf("the archive begins with %q, not %s: not a liuhen backup", name, api.BackupManifestName)
		}
		names = append(names, name)
		var buf []byte
		if name == api.BackupManifestName || name == api.BackupSumsName {
			if buf, err = io.ReadAll(io.LimitReader(tr, 16<<20)); err != nil {
				return m, total, len(names), fmt.Errorf("%s: the archive is cut: %w", name, err)
			}
		}
		switch name {
		case api.BackupManifestName:
			if err := json.Unmarshal(buf, &m); err != nil || m.Format != api.BackupFormat {
				return m, total, len(names), fmt.Errorf("%s: not a %s manifest (%v)", name, api.BackupFormat, err)
			}
		case api.BackupSumsName:
			sumsFile = buf
		}
		mode := os.FileMode(0o644)
		if name == api.BackupTokensName {
			mode = 0o600
		}
		sum, n, err := writeUnpacked(filepath.Join(dir, filepath.FromSlash(name)), mode, buf, tr, p)
		total += n
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return m, total, len(names), fmt.Errorf("%s: the archive is cut: %w", name, err)
		}
		if err != nil {
			return m, total, len(names), fmt.Errorf("%s: %w", name, err)
		}
		sums[name] = sum
	}
	if sumsFile == nil {
		return m, total, len(names), errors.New("the archive has no " + api.BackupSumsName + ": it was cut")
	}
	want := append(append([]string{api.BackupManifestName}, m.Files...), api.BackupSumsName)
	if !slices.Equal(names, want) {
		for i := range max(len(names), len(want)) {
			switch {
			case i >= len(names):
				return m, total, len(names), fmt.Errorf("the archive lacks %s, which its manifest lists", want[i])
			case i >= len(want) || names[i] != want[i]:
				return m, total, len(names), fmt.Errorf("the archive holds %s where its manifest lists %s", names[i], strings.Join(want[i:min(i+1, len(want))], ""))
			}
		}
	}
	var listed []string
	for line := range strings.Lines(string(sumsFile)) {
		sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		if !ok {
			return m, total, len(names), fmt.Errorf("%s: bad line %q", api.BackupSumsName, line)
		}
		if sums[name] != sum {
			return m, total, len(names), fmt.Errorf("%s: SHA256SUMS says %s, the bytes received hash to %s", name, sum, sums[name])
		}
		listed = append(listed, name)
	}
	if !slices.Equal(listed, m.Files) {
		return m, total, len(names), errors.New(api.BackupSumsName + " does not list the manifest's files")
	}
	return m, total, len(names), nil
}

// writeUnpacked writes one file, from buf if it was read already or else
// from r, and returns its SHA-256.
func writeUnpacked(p string, mode os.FileMode, buf []byte, r io.Reader, pr *progress) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	var n int64
	if buf != nil {
		var k int
		k, err = f.Write(buf)
		h.Write(buf)
		n = int64(k)
	} else {
		n, err = io.Copy(io.MultiWriter(f, h, progressCounter{pr}), r)
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, f.Close()
}

// progressCounter counts bytes into a progress.
type progressCounter struct{ p *progress }

func (c progressCounter) Write(b []byte) (int, error) {
	c.p.add(uint64(len(b)))
	return len(b), nil
}

// verifyBackup opens the unpacked ledger read-only, checks that it is the
// log of key and the copy the manifest describes, and verifies it whole.
// It returns the size of the checkpoint checked.
func verifyBackup(ctx context.Context, dir string, m api.BackupManifest, key *trustKey) (uint64, error) {
	cp, err := key.open([]byte(m.Checkpoint))
	if err != nil {
		return 0, fmt.Errorf("the manifest's checkpoint: %w", err)
	}
	// Verify reads every table once, in order: a small block cache does.
	l, err := ledger.Open(ledger.Config{Dir: filepath.Join(dir, api.BackupLedgerDir), ReadOnly: true, Origin: key.origin(), CacheSize: 16 << 20})
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if l.VerifierKey() != key.vkey {
		return 0, fmt.Errorf("the ledger's verifier key is %s, not the key given", l.VerifierKey())
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		return 0, err
	}
	if rep.Size != m.Size || ledger.Hex(rep.Root) != m.Root {
		return 0, fmt.Errorf("the copy holds %d entries with root %s; the manifest says %d, %s", rep.Size, ledger.Hex(rep.Root), m.Size, m.Root)
	}
	if rep.Checkpoint == nil || rep.Checkpoint.Size != cp.Size || rep.Checkpoint.Root != cp.Root {
		return 0, fmt.Errorf("the copy's latest checkpoint is not the manifest's (size %d)", cp.Size)
	}
	return cp.Size, nil
}

// verifyDir verifies a ledger directory offline (verify --dir): dir itself,
// or its ledger/ (a data directory, or liuhen backup's --out).
func verifyDir(ctx context.Context, dir string, key *trustKey) (*verifyReport, error) {
	ldir := dir
	if st, err := os.Stat(filepath.Join(dir, ledgerDir)); err == nil && st.IsDir() {
		ldir = filepath.Join(dir, ledgerDir)
	}
	start := time.Now()
	l, err := ledger.Open(ledger.Config{Dir: ldir, ReadOnly: true, Origin: key.origin(), CacheSize: 16 << 20})
	if err != nil {
		return nil, asFailure(err)
	}
	defer l.Close()
	if l.VerifierKey() != key.vkey {
		return nil, fmt.Errorf("%s holds the log of the key %s, not of the key given", ldir, l.VerifierKey())
	}
	vr, err := l.Verify(ctx)
	if err != nil {
		return nil, asFailure(err)
	}
	if vr.Checkpoint == nil {
		return nil, &failure{What: "no signed checkpoint in " + ldir}
	}
	el := time.Since(start)
	return &verifyReport{Mode: "dir", Dir: ldir, Origin: l.Origin(), Size: vr.Size, Root: ledger.Hex(vr.Root), Entries: vr.Size,
		Checkpoint: &vr.Checkpoint.Size, Seconds: el.Seconds(), Rate: float64(vr.Size) / el.Seconds()}, nil
}

// syncTree fsyncs every file and directory under dir.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
