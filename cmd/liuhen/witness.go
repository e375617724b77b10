package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
	"github.com/liuhen/liuhen/ledger/witness"
)

func init() {
	commands["witness"] = command{"run a witness that cosigns the checkpoints of liuhen logs that extend what it saw", runWitness}
}

const witnessUsage = `
usage: liuhen witness --key FILE --log VKEY [--log VKEY ...] [--state DIR] [--http ADDR] [--tls-cert FILE --tls-key FILE]

Run a witness (C2SP tlog-witness) for one or more liuhen logs: a party
independent of the agency, a court, a 法制 office or another bureau, that
cosigns a log's checkpoint only if it extends, by a consistency proof, the
last checkpoint of that log it cosigned. Verifiers who require its
cosignature (liuhen verify --witness-policy) then know that the log they
check is the one everybody else was shown: a server that forked its
history for one party would need the witness to cosign both forks, which
it never does.

  --key FILE   the witness's Ed25519 key (liuhen keygen --origin NAME --out
               FILE; NAME names the witness, e.g. witness.court.example/w1)
  --log VKEY   a log to witness: its verifier key (log.vkey), a file or the
               line; repeat for several logs
  --state DIR  where the witness keeps, per log, the size and root it last
               cosigned (fsynced before it answers; back it up: a witness
               that loses it would cosign from scratch)
  --http ADDR  listen address; POST /add-checkpoint is served there, and
               GET /healthz for monitoring

At start it prints the line a witness policy names it with, and writes it
to DIR/witness.policy-line (with the listening address; put the public
URL there if it is reached by a name or through a proxy). Logs send it their checkpoints with liuhen
serve --witness-policy (docs/operations.md, "Witnesses").
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("witness", flag.ContinueOnError)
	keyFile := fs.String("key", "witness.key", "the witness's signing key `file` (mode 0600)")
	var logs stringList
	fs.Var(&logs, "log", "verifier key of a log to witness: a `file` (log.vkey) or the line; repeatable")
	state := fs.String("state", "./witness-state", "state `dir`ectory")
	addr := fs.String("http", "127.0.0.1:8081", "listen `address`")
	tlsCert := fs.String("tls-cert", "", "TLS certificate `file` (PEM); serve HTTPS when set with -tls-key")
	tlsKey := fs.String("tls-key", "", "TLS private key `file` (PEM)")
	usageFunc(fs, stderr, witnessUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if len(logs) == 0 {
		return errors.New("no log to witness: pass --log VKEY")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	skey, err := ledger.ReadKeyFile(*keyFile)
	if err != nil {
		return err
	}
	cosigner, vkey, err := witness.NewCosigner(skey)
	if err != nil {
		return fmt.Errorf("--key %s: %w", *keyFile, err)
	}
	var verifiers []note.Verifier
	for _, arg := range logs {
		k, err := loadKey(arg)
		if err != nil {
			return err
		}
		verifiers = append(verifiers, k.v)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w, err := witness.NewServer(cosigner, verifiers, *state, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	// Behind a proxy or a name, the URL in the policy is the public one.
	line := fmt.Sprintf("witness %s %s %s://%s/", policyName(cosigner.Name()), vkey, scheme, ln.Addr())
	if err := durable.WriteFile(filepath.Join(*state, "witness.policy-line"), []byte(line+"\n"), 0o644); err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "liuhen witness: %s, witnessing %d logs, state in %s\n", cosigner.Name(), len(verifiers), *state)
	fmt.Fprintf(stdout, "  policy line: %s\n", line)
	fmt.Fprintf(stdout, "  listening on %s://%s/add-checkpoint\n", scheme, ln.Addr())
	hs := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// policyName is a policy's name for a witness: its key name with what a
// policy word may not hold replaced.
func policyName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '#' {
			return '_'
		}
		return r
	}, name)
}
