package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["keygen"] = command{"create a checkpoint signing key and print its verifier key", runKeygen}
}

const keygenUsage = `
usage: liuhen keygen --origin ORIGIN [--out FILE] [--vkey FILE]

Create an Ed25519 checkpoint signing key for the log named ORIGIN (e.g.
liuhen.example/jincheng-cgj) in FILE, mode 0600 (refused if FILE exists),
and print its verifier key: the C2SP vkey line that auditors pin and pass
to liuhen verify --key. Start the server with it: liuhen serve --key FILE
--origin ORIGIN. Keep FILE secret and backed up: whoever holds it can sign
a forged history.
`

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	origin := fs.String("origin", "", "the log's `origin`, the name in every checkpoint (required)")
	out := fs.String("out", "signing.key", "where to write the signing key (mode 0600)")
	vout := fs.String("vkey", "", "also write the verifier key to this `file`")
	usageFunc(fs, stderr, keygenUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if *origin == "" {
		fs.Usage()
		return errUsage
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; refusing to overwrite a signing key", *out)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	skey, vkey, err := ledger.GenerateKey(*origin)
	if err != nil {
		return err
	}
	if err := ledger.WriteKeyFile(*out, skey); err != nil {
		return err
	}
	if *vout != "" {
		if err := os.WriteFile(*vout, []byte(vkey+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "liuhen keygen: signing key written to %s (mode 0600); the verifier key is:\n", *out)
	fmt.Fprintln(stdout, vkey)
	return nil
}
