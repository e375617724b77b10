package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/liuhen/liuhen/internal/demo"
)

func init() {
	commands["demo"] = command{"load a realistic, deterministic year of 城管 enforcement into a running server", runDemo}
}

const demoUsage = `
usage: liuhen demo [--seed N] [--year Y] [--cases N] [--server URL] [--token ADMIN]

Generate a year of urban-management (城管) enforcement, the same for the same
--seed and --year, and post it to a running server with an admin token:
hundreds of cases across every category with full lifecycles (registration,
filing, inspections by two officers with body-camera video and photos,
inquiries, evidence, preservation and seizure, notices, statements, hearings,
legal reviews, collective discussions, decisions, service, publication,
payment and deferral, reminders, court enforcement, forced demolition,
reconsideration, lawsuits, closing and archiving), from 8 body cameras, 4
mobile terminals and the legal, finance and litigation offices, each with its
own device token. On purpose, some cases break the rules (one officer on
site, late service, late publication, a reviewer or hearing chair who
investigated, seizure beyond 30 days, demolition on a Sunday, ...), some
records are synced weeks late, and some media arrive late or never.

Records are idempotent: running it again with the same seed stores nothing
new. It prints a summary and, with --tokens, an auditor and a reporter token.
`

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	co := addClientFlags(fs)
	seed := fs.Uint64("seed", 1, "random `seed`: the same seed and year give the same records")
	year := fs.Int("year", 2025, "the calendar `year` to generate")
	cases := fs.Int("cases", 300, "how many cases to open")
	tokens := fs.Bool("tokens", false, "also create an auditor and a reporter token and print them")
	quiet := fs.Bool("quiet", false, "no progress line")
	usageFunc(fs, stderr, demoUsage)
	if err := parseFlags(fs, args, 0); err != nil {
		return helpOK(err)
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	sum, err := loadDemo(ctx, c, demo.Options{Seed: *seed, Year: *year, Cases: *cases}, stderr, *quiet)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, sum.String())
	if *tokens {
		toks, err := demoTokens(ctx, c)
		if err != nil {
			return err
		}
		for _, t := range toks {
			fmt.Fprintf(stdout, "  %-8s token  %s\n", t[0], t[1])
		}
	}
	return nil
}

type demoSummary struct {
	year, cases, breaches             int
	counts                            map[string]int
	media, late, missing, lateRecords int
	took                              time.Duration
}

func (s *demoSummary) String() string {
	return fmt.Sprintf("liuhen demo: year %d, %d cases: %d records accepted, %d already there, %d rejected; "+
		"%d media files uploaded (%d late), %d never uploaded; %d records synced late; %d deliberate rule breaches; %.1f s\n",
		s.year, s.cases, s.counts["accepted"], s.counts["duplicate"], s.counts["rejected"]+s.counts["conflict"],
		s.media, s.late, s.missing, s.lateRecords, s.breaches, s.took.Seconds())
}

// loadDemo posts a generated year to the server c (admin token).
func loadDemo(ctx context.Context, c *client, o demo.Options, stderr io.Writer, quiet bool) (*demoSummary, error) {
	start := time.Now()
	y := demo.Generate(o)
	if o.Year == 0 {
		o.Year = 2025
	}
	sum := &demoSummary{year: o.Year, cases: y.Cases, breaches: len(y.Breaches)}
	po := newPoster(c, 1000)
	defer po.close(context.WithoutCancel(ctx))
	if !po.isAdmin(ctx) {
		return nil, fmt.Errorf("liuhen demo needs an admin token (--token or %s), to create a token for each device", envToken)
	}
	p := newProgress(stderr, "demo", uint64(len(y.Records)), quiet)
	type upload struct {
		device string
		m      demo.Media
	}
	var queued, late []upload
	put := func(us []upload) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for _, u := range us {
			g.Go(func() error { return po.putMedia(gctx, u.device, u.m.SHA256, u.m.Data) })
		}
		return g.Wait()
	}
	po.onFlush = func() error {
		err := put(queued)
		sum.media += len(queued)
		queued = queued[:0]
		return err
	}
	var rejected []string
	po.onResult = func(r postResult) {
		p.add(1)
		if r.Status == "rejected" || r.Status == "conflict" {
			rejected = append(rejected, fmt.Sprintf("%s %s %+v", r.ID, r.Status, r.Error))
		}
	}
	for i, r := range y.Records {
		if r.Late {
			sum.lateRecords++
		}
		if err := po.add(ctx, i+1, r.Raw); err != nil {
			return nil, err
		}
		for _, m := range r.Media {
			switch {
			case m.Missing:
				sum.missing++
			case m.Late:
				late = append(late, upload{r.Device, m})
			default:
				queued = append(queued, upload{r.Device, m})
			}
		}
	}
	if err := po.flush(ctx); err != nil {
		return nil, err
	}
	if err := put(late); err != nil {
		return nil, err
	}
	sum.media += len(late)
	sum.late = len(late)
	p.finish()
	sum.counts = po.counts
	sum.took = time.Since(start)
	if len(rejected) > 0 {
		return sum, fmt.Errorf("%d demo records were refused, first: %s", len(rejected), rejected[0])
	}
	return sum, nil
}

// demoTokens creates an auditor and a reporter token.
func demoTokens(ctx context.Context, c *client) ([][2]string, error) {
	var out [][2]string
	for _, role := range []string{"auditor", "reporter"} {
		var ans struct{ Token string }
		if err := c.sendJSON(ctx, http.MethodPost, "/v1/admin/tokens", map[string]string{"role": role, "name": "demo " + role}, &ans); err != nil {
			return nil, err
		}
		out = append(out, [2]string{role, ans.Token})
	}
	return out, nil
}
