package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"

	tproof "github.com/transparency-dev/formats/proof"
	fwitness "github.com/transparency-dev/formats/witness"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
)

func init() {
	commands["prove"] = command{"fetch and verify an entry's inclusion proof and print its receipt", runProve}
}

const proveUsage = `
usage: liuhen prove SEQ --key VKEY [--server URL] [--token TOKEN] [--entry FILE] [--witness-policy FILE] [--out FILE]

Fetch the receipt of entry SEQ (GET /v1/events/SEQ/receipt: a
c2sp.org/tlog-proof with the audit path to the smallest signed checkpoint
that covers the entry), verify it against the entry's bytes and the key
you trust, and print it (or write it to --out).

The entry's bytes come from the server (GET /v1/events/SEQ, auditor
token) or from --entry FILE. The printed receipt carries them in its
"extra" line (base64), so that

    liuhen verify --receipt FILE --key log.vkey

checks it later, offline, with nothing else.

With --witness-policy FILE the receipt proves the entry in the latest
witnessed checkpoint (GET /v1/events/SEQ/receipt?witnessed=true), which
carries the witnesses' cosignatures and must satisfy the policy's quorum;
verify --receipt --witness-policy FILE checks them offline too.
`

func runProve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	co := addClientFlags(fs)
	key := fs.String("key", os.Getenv("LIUHEN_KEY"), "verifier key `file` (log.vkey) or line (default $LIUHEN_KEY)")
	entryFile := fs.String("entry", "", "the entry's exact bytes (`file`), instead of fetching them")
	out := fs.String("out", "", "write the receipt to this `file` instead of stdout")
	policyFile := fs.String("witness-policy", "", "prove the entry in the latest checkpoint cosigned by this witness policy's quorum (`file`)")
	usageFunc(fs, stderr, proveUsage)
	// Allow the flags after SEQ, as the usage line shows them.
	var seqArg string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		seqArg, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, -1); err != nil {
		return helpOK(err)
	}
	if seqArg == "" && fs.NArg() == 1 {
		seqArg = fs.Arg(0)
	} else if fs.NArg() != 0 || seqArg == "" {
		fs.Usage()
		return errUsage
	}
	seq, err := strconv.ParseUint(seqArg, 10, 64)
	if err != nil {
		return fmt.Errorf("SEQ must be a non-negative integer, not %q", seqArg)
	}
	k, err := loadKey(*key)
	if err != nil {
		return err
	}
	c, err := co.client()
	if err != nil {
		return err
	}
	var entry []byte
	if *entryFile != "" {
		if entry, err = readEntryFile(*entryFile); err != nil {
			return err
		}
	} else if entry, err = c.get(ctx, "/v1/events/"+strconv.FormatUint(seq, 10)); err != nil {
		if isStatus(err, 401) || isStatus(err, 403) {
			return fmt.Errorf("%w\n(reading the entry needs an auditor token; or pass its bytes with --entry FILE)", err)
		}
		return err
	}
	path := "/v1/events/" + strconv.FormatUint(seq, 10) + "/receipt"
	var policy *fwitness.Group
	if *policyFile != "" {
		if policy, err = loadPolicy(*policyFile); err != nil {
			return err
		}
		path += "?witnessed=true"
	}
	rb, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	var tp tproof.TLogProof
	if err := tp.Unmarshal(rb); err != nil {
		return fmt.Errorf("the server's receipt: %v", err)
	}
	tp.ExtraData = entry
	if _, err := checkReceipt(&tp, entry, k, policy, *policyFile); err != nil {
		return fmt.Errorf("FAILED: %w", err)
	}
	b := tp.Marshal()
	if *out != "" {
		if err := durable.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "liuhen prove: entry %d verified; receipt written to %s\n", seq, *out)
		return nil
	}
	_, err = stdout.Write(b)
	return err
}

// readEntryFile reads an entry's bytes, without the newline a file may end
// with.
func readEntryFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b, nil
}

// checkReceipt verifies a receipt: the entry is entry tp.Index, its leaf
// hash leads by the audit path to the root of the checkpoint, and the
// checkpoint is signed by k and, with a policy (read from policyFile),
// cosigned by its quorum.
func checkReceipt(tp *tproof.TLogProof, entry []byte, k *trustKey, policy *fwitness.Group, policyFile string) (*ledger.Checkpoint, error) {
	cp, err := k.open(tp.Checkpoint)
	if err != nil {
		return nil, &failure{What: "the receipt's checkpoint is not signed by the key you trust: " + err.Error()}
	}
	if policy != nil && !policy.Satisfied(tp.Checkpoint) {
		return nil, &failure{What: fmt.Sprintf("the receipt's checkpoint of size %d is not cosigned by the quorum of the witness policy %s", cp.Size, policyFile)}
	}
	e, err := ledger.DecodeEntry(entry)
	if err != nil {
		return nil, &failure{Seq: seqp(tp.Index), What: "the entry does not decode: " + err.Error()}
	}
	if e.Seq != tp.Index {
		return nil, &failure{Seq: seqp(tp.Index), What: "the entry is another one than the receipt's", Want: fmt.Sprintf("seq %d", tp.Index), Got: fmt.Sprintf("seq %d", e.Seq)}
	}
	path := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		path[i] = tp.Hashes[i][:]
	}
	leaf := ledger.LeafHash(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, tp.Index, cp.Size, leaf[:], path, cp.Root[:]); err != nil {
		cs := ""
		if e.CaseID != [16]byte{} {
			cs = e.CaseID.String()
		}
		got, rerr := proof.RootFromInclusionProof(rfc6962.DefaultHasher, tp.Index, cp.Size, leaf[:], path)
		found := fmt.Sprintf("%x", got)
		if rerr != nil {
			found = rerr.Error()
		}
		return nil, &failure{Seq: seqp(tp.Index), Case: cs, What: fmt.Sprintf("the entry and its audit path do not lead to the root of the checkpoint of size %d", cp.Size),
			Want: ledger.Hex(cp.Root), Got: found}
	}
	return cp, nil
}

// loadPolicy reads a witness policy file.
func loadPolicy(file string) (*fwitness.Group, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p, err := fwitness.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("witness policy %s: %w", file, err)
	}
	return &p, nil
}

// verifyReceiptFile is liuhen verify --receipt.
func verifyReceiptFile(o *verifyOptions, k *trustKey, stdout io.Writer) error {
	b, err := os.ReadFile(o.receipt)
	if err != nil {
		return err
	}
	var tp tproof.TLogProof
	if err := tp.Unmarshal(b); err != nil {
		return report(stdout, o.json, nil, &failure{File: o.receipt, What: "not a c2sp.org/tlog-proof receipt: " + err.Error()})
	}
	entry := tp.ExtraData
	if o.entry != "" {
		if entry, err = readEntryFile(o.entry); err != nil {
			return err
		}
	}
	if len(entry) == 0 {
		return errors.New("the receipt does not carry the entry: pass its bytes with --entry FILE")
	}
	var policy *fwitness.Group
	if o.witnessPolicy != "" {
		if policy, err = loadPolicy(o.witnessPolicy); err != nil {
			return err
		}
	}
	cp, err := checkReceipt(&tp, entry, k, policy, o.witnessPolicy)
	rep := &verifyReport{Mode: "receipt", Origin: k.origin(), From: tp.Index, Entries: 1, WitnessPolicy: o.witnessPolicy}
	if cp != nil {
		rep.Size, rep.Root = cp.Size, ledger.Hex(cp.Root)
	}
	return report(stdout, o.json, rep, err)
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

func urlEscape(s string) string { return url.PathEscape(s) }

var _ = sha256.Size
