package main

import (
	"context"
	"fmt"
	"io"

	"github.com/liuhen/liuhen/bundle"
)

// verifyBundleFile is liuhen verify --bundle: everything offline.
func verifyBundleFile(ctx context.Context, o *verifyOptions, k *trustKey, stdout, stderr io.Writer) error {
	opts := bundle.Options{}
	if o.witnessPolicy != "" {
		policy, err := loadPolicy(o.witnessPolicy)
		if err != nil {
			return err
		}
		opts.WitnessPolicy = policy
	}
	p := newProgress(stderr, "verify", 0, o.json)
	opts.Progress = func(n int) { p.add(uint64(n)) }
	br, err := bundle.Verify(ctx, o.bundle, k.vkey, opts)
	el := p.finish()
	if err != nil {
		return err
	}
	rep := &verifyReport{Mode: "bundle", Origin: br.Origin, Size: br.Checkpoint.Size, Root: br.Checkpoint.Root, WitnessPolicy: o.witnessPolicy,
		Entries: br.Entries, Case: br.Case, Files: br.Files, Seconds: el.Seconds(), MaxHeap: p.maxHeap}
	if el > 0 {
		rep.Rate = float64(br.Entries) / el.Seconds()
	}
	if br.Custody != nil {
		rep.Custody = seqp(br.Custody.Seq)
	}
	if len(br.Problems) == 0 {
		return report(stdout, o.json, rep, nil)
	}
	if o.json {
		rep.Problems = br.Problems
		return report(stdout, true, rep, fmt.Errorf("%d problems", len(br.Problems)))
	}
	for _, pr := range br.Problems {
		fmt.Fprintf(stdout, "FAIL %s\n", pr)
	}
	return fmt.Errorf("FAILED: the bundle %s does not verify: %d problems (listed above)", o.bundle, len(br.Problems))
}

func printBundleOK(w io.Writer, rep *verifyReport) {
	what := "the whole log"
	if rep.Case != "" {
		what = "case " + rep.Case
	}
	fmt.Fprintf(w, "OK: bundle of %s verified offline: %d files, %s entries in the log %s, checkpoint of size %d (root %s) signed by the key you trust",
		what, rep.Files, thousands(rep.Entries), rep.Origin, rep.Size, rep.Root)
	if rep.Custody != nil {
		fmt.Fprintf(w, "; the export is recorded as entry %d", *rep.Custody)
	}
	fmt.Fprintln(w)
	if rep.WitnessPolicy != "" {
		fmt.Fprintf(w, "    the checkpoint is cosigned by the quorum of the witness policy %s\n", rep.WitnessPolicy)
	}
	if rep.Seconds > 0.5 {
		fmt.Fprintf(w, "    %.2f s, %s entries/s\n", rep.Seconds, thousands(uint64(rep.Rate)))
	}
}
