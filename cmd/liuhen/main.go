// Command liuhen runs and checks a liuhen ledger: an immutable,
// hash-chained, Merkle-verifiable record of administrative law-enforcement
// cases.
//
// Usage:
//
//	liuhen serve [flags]   run the HTTP API (see liuhen serve -h); --demo loads a demo year
//	liuhen bench [flags]   drive a running server with simulated devices
//	liuhen keygen          create a checkpoint signing key
//	liuhen verify          verify a server's ledger, a receipt, or an evidence bundle
//	liuhen prove SEQ       fetch, verify and print an entry's receipt
//	liuhen export          write an evidence bundle (证据包)
//	liuhen report          print the annual report
//	liuhen token           create, list, revoke tokens
//	liuhen post FILE       post NDJSON records
//	liuhen demo            load a demo year of 城管 enforcement
//	liuhen project         run the projections from any NATS server and serve their read endpoints
//	liuhen recover         append to a restored ledger the later entries its JetStream stream kept
//
// Each subcommand lives in its own file and documents its flags in -h;
// docs/cli.md is the manual.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
)

// A command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is filled by each subcommand's file.
var commands = map[string]command{}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: liuhen <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'liuhen <command> -h' for a command's flags.")
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "liuhen: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintf(stderr, "liuhen %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
