package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/liuhen/liuhen/internal/backup"
	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["restore"] = command{"put a backup's ledger in place of a stopped server's, then recover what its streams kept since", runRestore}
}

const restoreUsage = `
usage: liuhen restore --from BACKUP [--data DIR] [--key FILE] [--force] [--nats URL [--nats-creds FILE] [--nats-tls-* FILE]]

For a stopped server: replace DIR/ledger with the ledger of a backup
(liuhen backup's --out directory, or a ledger directory), then append the
entries the server's JetStream streams kept since the backup, as liuhen
recover does.

  1. The backup is verified whole (every entry, chain, index and tree hash,
     the latest checkpoint) against the verifier key of DIR/signing.key (or
     --key): it must be this log's.
  2. DIR/ledger must not be in use (a running server holds its lock). If it
     opens and holds at least as many entries as the backup, restore
     refuses: that would set the log back; --force replaces it anyway.
  3. The backup's ledger is copied to DIR/ledger.restoring, every file
     fsynced; DIR/ledger, if any, is renamed DIR/ledger.replaced-<time>
     (never deleted), and the copy becomes DIR/ledger. tokens.json and
     log.vkey are copied from the backup when DIR has none.
  4. recover appends what the streams kept beyond the backup, and stores
     the checkpoints the relay published for them.

Then start liuhen serve and run liuhen verify. See docs/operations.md,
"Restoring".
`

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	f := addRecoverFlags(fs)
	from := fs.String("from", "", "the backup `dir`ectory (liuhen backup's --out), or a ledger directory")
	force := fs.Bool("force", false, "replace DIR/ledger even if it opens and holds as many entries as the backup")
	usageFunc(fs, stderr, restoreUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if *from == "" {
		fs.Usage()
		return errUsage
	}
	signer, err := f.signer()
	if err != nil {
		return err
	}
	key, err := loadKey(signer.VKey)
	if err != nil {
		return err
	}
	src := *from
	if st, err := os.Stat(filepath.Join(src, backup.LedgerDir)); err == nil && st.IsDir() {
		src = filepath.Join(src, backup.LedgerDir)
	}
	rep, err := verifyDir(ctx, src, key)
	if err != nil {
		return fmt.Errorf("the backup in %s does not verify against the key of this server: %w", src, err)
	}
	fmt.Fprintf(stdout, "liuhen restore: verified the backup in %s: %s entries, root %s, the log of %s\n", src, thousands(rep.Size), rep.Root, signer.Name())

	dst := filepath.Join(f.data, ledgerDir)
	if hasFiles(dst) {
		// A running server holds the lock; a damaged ledger need not
		// open, but its lock is free.
		release, err := ledger.LockDir(dst)
		if err != nil {
			return err
		}
		if err := release(); err != nil {
			return err
		}
		cur, oerr := ledger.Open(ledger.Config{Dir: dst, ReadOnly: true})
		if oerr == nil {
			size := cur.Head().Size
			cur.Close()
			if size >= rep.Size && !*force {
				return fmt.Errorf("%s opens and holds %d entries, the backup %d: restoring it would set the log back. If %s is damaged in a way that opening it does not show, check it with liuhen verify --dir and pass --force", dst, size, rep.Size, dst)
			}
			fmt.Fprintf(stdout, "  %s opened with %d entries\n", dst, size)
		} else {
			fmt.Fprintf(stdout, "  %s does not open: %v\n", dst, oerr)
		}
	}
	tmp := dst + ".restoring"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	n, err := copyTree(src, tmp)
	if err != nil {
		return fmt.Errorf("copying the backup: %w", err)
	}
	if hasFiles(dst) {
		aside := dst + ".replaced-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dst, aside); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  moved %s to %s (kept; delete it once the restored server verifies)\n", dst, aside)
	} else if err := os.RemoveAll(dst); err != nil { // an empty directory
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := durable.SyncDir(f.data); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  %s now holds the backup's %s entries (%.1f MB copied)\n", dst, thousands(rep.Size), float64(n)/1e6)
	for _, name := range []string{tokensFile, vkeyFile} {
		p := filepath.Join(f.data, name)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(*from, name))
		if err != nil {
			continue // a bare ledger directory holds neither
		}
		mode := os.FileMode(0o644)
		if name == tokensFile {
			mode = 0o600
		}
		if err := durable.WriteFile(p, b, mode); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %s was missing: copied from the backup\n", p)
	}
	return recoverStreams(ctx, f, stdout, stderr)
}

// copyTree copies the regular files under src to dst (which must not
// exist), fsyncing each file and directory, and returns the bytes copied.
func copyTree(src, dst string) (int64, error) {
	var total int64
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.Mkdir(out, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		n, err := copyFile(p, out)
		total += n
		return err
	})
	if err != nil {
		return total, err
	}
	return total, durable.SyncTree(dst)
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
