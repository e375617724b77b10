package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/backup"
	"github.com/liuhen/liuhen/internal/durable"
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
key (keep it offline). To restore: stop the server and run liuhen restore
--from DIR --data DATA, which verifies the copy, puts it in place and
appends what the JetStream streams kept since (docs/operations.md,
"Restoring").
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
	m, n, nfiles, err := backup.Unpack(resp.Body, partial, func(n int) { p.add(uint64(n)) })
	p.finish()
	if err != nil {
		os.RemoveAll(partial)
		return err
	}
	vstart := time.Now()
	keyFrom := "--key"
	if key == nil {
		keyFrom = "backup"
		b, err := os.ReadFile(filepath.Join(partial, backup.VKeyName))
		if err != nil {
			return err
		}
		if key, err = loadKey(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("the backup's %s: %w", backup.VKeyName, err)
		}
	}
	cpSize, err := verifyBackup(ctx, partial, m, key)
	if err != nil {
		// Kept for inspection, under its .partial name.
		return fmt.Errorf("the copy in %s does not verify: %w", partial, err)
	}
	vtime := time.Since(vstart)
	if err := durable.SyncTree(partial); err != nil {
		return err
	}
	if err := os.Rename(partial, *out); err != nil {
		return err
	}
	if err := durable.SyncDir(filepath.Dir(*out)); err != nil {
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

// verifyBackup opens the unpacked ledger read-only, checks that it is the
// log of key and the copy the manifest describes, and verifies it whole.
// It returns the size of the checkpoint checked.
func verifyBackup(ctx context.Context, dir string, m backup.Manifest, key *trustKey) (uint64, error) {
	cp, err := key.open([]byte(m.Checkpoint))
	if err != nil {
		return 0, fmt.Errorf("the manifest's checkpoint: %w", err)
	}
	// Verify reads every table once, in order: a small block cache does.
	l, err := ledger.Open(ledger.Config{Dir: filepath.Join(dir, backup.LedgerDir), ReadOnly: true, Origin: key.origin(), CacheSize: 16 << 20})
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
	if hasFiles(ldir) {
		// A running server holds the lock; say so rather than Pebble's
		// "resource temporarily unavailable".
		release, err := ledger.LockDir(ldir)
		if err != nil {
			return nil, fmt.Errorf("%w; verify a running server online (liuhen verify --server), or a backup of it", err)
		}
		if err := release(); err != nil {
			return nil, err
		}
	}
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
