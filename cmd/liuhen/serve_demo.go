package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/liuhen/liuhen/internal/demo"
)

// serveDemo is liuhen serve --demo: once the server listens, it loads the
// demo year into a fresh ledger through the HTTP API, as devices would, and
// prints where to look and the tokens to look with. A ledger that already
// holds entries is left alone.
func serveDemo(ctx context.Context, o *serveOptions, url string, fresh bool, stdout io.Writer, log *slog.Logger) {
	adminPath := filepath.Join(o.data, adminTokenFile)
	b, err := os.ReadFile(adminPath)
	if err != nil {
		log.Error("demo: reading the admin token", "err", err)
		return
	}
	admin := strings.TrimSpace(string(b))
	c, err := (&clientOptions{server: url, token: admin}).client()
	if err != nil {
		log.Error("demo", "err", err)
		return
	}
	if !fresh {
		fmt.Fprintf(stdout, "liuhen: --demo: the ledger in %s already holds entries; not loading the demo again\n", o.data)
		fmt.Fprintf(stdout, "  admin token %s (in %s)\n", admin, adminPath)
		return
	}
	fmt.Fprintln(stdout, "liuhen: --demo: loading a year of 城管 enforcement (liuhen demo --seed 1 --year 2025) ...")
	sum, err := loadDemo(ctx, c, demo.Options{Seed: 1, Year: 2025}, io.Discard, true)
	if err != nil {
		log.Error("demo: loading", "err", err)
		return
	}
	toks, err := demoTokens(ctx, c)
	if err != nil {
		log.Error("demo: tokens", "err", err)
		return
	}
	var sb strings.Builder
	sb.WriteString(sum.String())
	fmt.Fprintf(&sb, "liuhen: the demo is ready at %s\n", url)
	fmt.Fprintf(&sb, "  admin    token  %s\n", admin)
	for _, t := range toks {
		fmt.Fprintf(&sb, "  %-8s token  %s\n", t[0], t[1])
	}
	fmt.Fprintf(&sb, "  verifier key   %s\n", filepath.Join(o.data, vkeyFile))
	fmt.Fprintf(&sb, "try:\n  export LIUHEN_SERVER=%s LIUHEN_TOKEN=%s LIUHEN_KEY=%s\n", url, admin, filepath.Join(o.data, vkeyFile))
	sb.WriteString("  go run ./cmd/liuhen verify\n  go run ./cmd/liuhen report --year 2025\n")
	io.WriteString(stdout, sb.String())
}
