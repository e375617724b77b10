package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

func init() {
	commands["report"] = command{"print the annual report (法治政府建设 statistics) from a server", runReport}
}

const reportUsage = `
usage: liuhen report --year Y [--format md|csv|json] [--size N] [--server URL] [--token TOKEN]

Print the annual report of year Y (GET /v1/reports/annual), computed by the
server's projections from the ledger: cases opened, decisions, fines
decided and collected, publications, legal reviews, hearings, court
enforcement, lawsuits, by category, and the compliance findings. --size N
computes it over the first N entries only, so that a figure can be
reproduced later; --wait waits for the projections to catch up to N. Needs a reporter (or admin) token.
`

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	co := addClientFlags(fs)
	year := fs.Int("year", 0, "the calendar `year` (in the agency's time zone); required")
	format := fs.String("format", "md", "md (Markdown), csv or json")
	size := fs.Uint64("size", 0, "compute over the first `N` entries (default: all)")
	wait := fs.Duration("wait", 0, "with --size: wait up to this long for the projections to reach N entries")
	usageFunc(fs, stderr, reportUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	if *year < 1949 || *year > 9999 {
		fs.Usage()
		return errUsage
	}
	switch *format {
	case "md", "csv", "json":
	default:
		return fmt.Errorf("--format must be md, csv or json, not %q", *format)
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	q := url.Values{"year": {strconv.Itoa(*year)}, "format": {*format}}
	if *size > 0 {
		q.Set("size", strconv.FormatUint(*size, 10))
	}
	deadline := time.Now().Add(*wait)
	b, err := c.get(ctx, "/v1/reports/annual?"+q.Encode())
	for err != nil && isCode(err, "size_ahead") && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		b, err = c.get(ctx, "/v1/reports/annual?"+q.Encode())
	}
	if err != nil {
		if isStatus(err, 404) {
			return fmt.Errorf("%w\n(does this server run the report projection? it is served by liuhen serve with projections)", err)
		}
		return err
	}
	_, err = stdout.Write(b)
	if err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		_, err = io.WriteString(stdout, "\n")
	}
	return err
}
