package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/uuid"
	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/ledger"
)

// A Problem is one thing wrong with a bundle, named as precisely as the
// check allows: the file, and for entries the seq and the case.
type Problem struct {
	File string  `json:"file,omitempty"`
	Seq  *uint64 `json:"seq,omitempty"`
	Case string  `json:"case,omitempty"`
	What string  `json:"what"`
	Want string  `json:"expected,omitempty"`
	Got  string  `json:"found,omitempty"`
}

// Error makes a *Problem an error: the CLI returns one for a failed
// online check, in the same words as a bundle's.
func (p *Problem) Error() string { return p.String() }

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ": ")
	}
	if p.Seq != nil {
		fmt.Fprintf(&b, "entry %d", *p.Seq)
		if p.Case != "" {
			fmt.Fprintf(&b, " (case %s)", p.Case)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.What)
	if p.Want != "" || p.Got != "" {
		fmt.Fprintf(&b, ": expected %s, found %s", p.Want, p.Got)
	}
	return b.String()
}

// A Report is the outcome of Verify. The bundle verified exactly when
// Problems is empty.
type Report struct {
	Scope      string    `json:"scope"`
	Case       string    `json:"case_id,omitempty"`
	Origin     string    `json:"origin"`
	Checkpoint Tree      `json:"checkpoint"`
	Entries    uint64    `json:"entries"`
	Files      int       `json:"files"`
	Media      int       `json:"media"`
	Custody    *Custody  `json:"custody,omitempty"`
	Problems   []Problem `json:"problems"`
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

func seqp(s uint64) *uint64 { return &s }

// Options tune Verify.
type Options struct {
	// Progress, if set, is called with the number of entries checked as
	// verification goes.
	Progress func(n int)
	// MaxFile bounds the files Verify holds in memory (all but entries and
	// media, which it streams). Default 256 MiB.
	MaxFile int64
	// WitnessPolicy, if set, must be satisfied by checkpoint.txt's
	// cosignatures (a transparency-dev/formats/witness.Group): the bundle
	// was then exported from the log its witnesses were shown.
	WitnessPolicy interface{ Satisfied(checkpoint []byte) bool }
}

// file is what Verify keeps of one file of the archive.
type vfile struct {
	size int64
	sum  string
	data []byte // small files; nil for streamed ones
	bad  bool   // the file failed its own check
}

// Verify checks the bundle at path against the verifier key vkey (a C2SP
// vkey line, the one the auditor trusts), fully offline. Every changed,
// added, removed or reordered byte makes a Problem that names the file. The
// error is for a bundle that cannot be read at all.
func Verify(ctx context.Context, path, vkey string, o Options) (*Report, error) {
	if o.MaxFile == 0 {
		o.MaxFile = 256 << 20
	}
	kv, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("bundle: verifier key: %v", err)
	}
	rep := &Report{Origin: kv.Name(), Problems: []Problem{}}
	vr := &verifier{ctx: ctx, rep: rep, kv: kv, vkey: strings.TrimSpace(vkey), files: map[string]*vfile{}, opts: o}
	defer vr.cleanup()
	root := ""
	err = walkArchive(path, func(name string, size int64, r io.Reader) error {
		dir, rel, ok := strings.Cut(name, "/")
		if root == "" && ok {
			root = dir
		}
		if !ok || dir != root || rel == "" {
			rep.add(Problem{File: name, What: "file outside the bundle's directory " + root + "/ (added)"})
			return nil
		}
		if r == nil {
			rep.add(Problem{File: rel, What: "not a regular file (added)"})
			return nil
		}
		if _, dup := vr.files[rel]; dup {
			rep.add(Problem{File: rel, What: "the archive holds this file twice (added)"})
			return nil
		}
		return vr.read(rel, size, r)
	})
	if err != nil {
		return rep, err
	}
	vr.finish()
	return rep, nil
}

type verifier struct {
	ctx   context.Context
	rep   *Report
	kv    note.Verifier
	vkey  string
	opts  Options
	files map[string]*vfile
	spill *os.File // entries.jsonl, when it could not be streamed yet

	cp      *ledger.Checkpoint
	custody *ledger.Entry
	cd      *custodyData
	cline   []byte // custody.jsonl's line

	// Whole-log bundles, streamed.
	streamed bool
	chain    *ledger.ChainVerifier
	chainErr error
	firstN   func() []byte // SHA-256 of the first cd.Size lines of entries.jsonl
	cfound   bool
	entriesN uint64
	types    map[string]string // media content types
	contents contents
}

func (vr *verifier) cleanup() {
	if vr.spill != nil {
		vr.spill.Close()
		os.Remove(vr.spill.Name())
	}
}

func (vr *verifier) problem(p Problem) { vr.rep.add(p) }

// read takes one file of the archive.
func (vr *verifier) read(rel string, size int64, r io.Reader) error {
	f := &vfile{}
	vr.files[rel] = f
	h := sha256.New()
	kind, _ := kindOf(rel)
	streamed := kind == KindEntries && vr.custodyKnown() && vr.cd.Scope == ScopeAll
	var src io.Reader = io.TeeReader(r, h)
	var split *splitHasher
	if streamed {
		// One SHA-256 pass gives the file's sum and, from the state at
		// the end of line cd.Size, the custody record's sum.
		split = &splitHasher{r: r, h: h, lines: vr.cd.Size}
		src = split
	}
	cr := &countReader{r: src}
	var rerr error
	switch {
	case streamed:
		vr.streamAll(cr, split.prefixSum)
		_, rerr = io.Copy(io.Discard, cr)
	case kind == KindEntries:
		tmp, err := os.CreateTemp("", "liuhen-bundle-entries-*")
		if err != nil {
			return err
		}
		vr.spill = tmp
		_, rerr = io.Copy(tmp, cr)
	case kind == KindMedia:
		_, rerr = io.Copy(io.Discard, cr)
	default:
		var buf bytes.Buffer
		_, rerr = io.Copy(&buf, io.LimitReader(cr, vr.opts.MaxFile+1))
		if int64(buf.Len()) > vr.opts.MaxFile {
			vr.problem(Problem{File: rel, What: fmt.Sprintf("larger than %d bytes", vr.opts.MaxFile)})
			f.bad = true
			_, rerr = io.Copy(io.Discard, cr)
		}
		f.data = buf.Bytes()
	}
	if rerr != nil {
		vr.problem(Problem{File: rel, What: "unreadable in the archive (changed?): " + rerr.Error()})
		f.bad = true
	}
	f.size, f.sum = cr.n, hex.EncodeToString(h.Sum(nil))
	switch kind {
	case KindKey:
		vr.checkKey(f)
	case KindCheckpoint:
		vr.checkCheckpoint(f)
	case KindCustody:
		vr.readCustody(f)
	case KindMedia:
		if want := rel[len(DirMedia) : len(DirMedia)+64]; f.sum != want {
			vr.problem(Problem{File: rel, What: "the file's bytes do not hash to its name (changed)", Want: want, Got: f.sum})
			f.bad = true
		}
	}
	return vr.ctx.Err()
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (vr *verifier) custodyKnown() bool { return vr.cd != nil }

func (vr *verifier) checkKey(f *vfile) {
	if strings.TrimSpace(string(f.data)) != vr.vkey {
		vr.problem(Problem{File: FileKey, What: "not the verifier key you trust (changed)", Want: vr.vkey, Got: strings.TrimSpace(string(f.data))})
		f.bad = true
	}
}

func (vr *verifier) checkCheckpoint(f *vfile) {
	cp, err := ledger.OpenCheckpoint(f.data, vr.kv.Name(), vr.kv)
	if err != nil {
		vr.problem(Problem{File: FileCheckpoint, What: "not a checkpoint signed by the key you trust (changed): " + err.Error()})
		f.bad = true
		return
	}
	vr.cp = cp
	vr.rep.Checkpoint = Tree{cp.Size, ledger.Hex(cp.Root)}
	if vr.opts.WitnessPolicy != nil && !vr.opts.WitnessPolicy.Satisfied(f.data) {
		vr.problem(Problem{File: FileCheckpoint, What: fmt.Sprintf("the checkpoint of size %d is not cosigned by the quorum of the witness policy", cp.Size)})
	}
}

func (vr *verifier) readCustody(f *vfile) {
	line, ok := bytes.CutSuffix(f.data, []byte("\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		vr.problem(Problem{File: FileCustody, What: "must be exactly one line (changed)"})
		f.bad = true
		return
	}
	e, cd, err := parseCustody(line)
	if err != nil {
		vr.problem(Problem{File: FileCustody, What: "not the custody entry of an export (changed): " + err.Error()})
		f.bad = true
		return
	}
	vr.custody, vr.cd, vr.cline = e, cd, line
	vr.rep.Scope, vr.rep.Case = cd.Scope, cd.CaseID
}

// streamAll verifies a whole-log entries.jsonl as it is read. prefixSum,
// if not nil, returns the SHA-256 of the file's first cd.Size lines once r
// is read; otherwise streamAll computes it.
func (vr *verifier) streamAll(r io.Reader, prefixSum func() []byte) {
	vr.streamed = true
	vr.chain = ledger.NewChainVerifier()
	vr.types = map[string]string{}
	wantMedia := len(vr.cd.Media) > 1
	if prefixSum == nil {
		// The first cd.Size lines are hashed as they are read, beside the
		// checker.
		h := sha256.New()
		r = &prefixHasher{r: r, h: h, lines: vr.cd.Size}
		prefixSum = func() []byte { return h.Sum(nil) }
	}
	vr.firstN = prefixSum
	st := Stream{V: vr.chain, Progress: vr.opts.Progress, Entry: func(e *ledger.Entry) error {
		if e.Seq == vr.custody.Seq {
			vr.cfound = true
			if !bytes.Equal(e.Bytes, vr.cline) {
				vr.problem(Problem{File: FileCustody, Seq: seqp(e.Seq), What: "differs from the same entry in " + FileEntries + " (changed)"})
			}
		}
		if wantMedia && bytes.Contains(e.Bytes, mediaKey) {
			vr.contents.cd = vr.cd
			vr.contents.entryFacts(e.Bytes, false, vr.types)
		}
		return nil
	}}
	vr.chainErr = st.Run(vr.ctx, r)
	vr.entriesN = vr.chain.Size()
}

// prefixHasher passes r through, writing its first lines lines to h.
type prefixHasher struct {
	r     io.Reader
	h     hash.Hash
	lines uint64
}

func (p *prefixHasher) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	chunk := b[:n]
	for p.lines > 0 && len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			p.h.Write(chunk)
			break
		}
		p.h.Write(chunk[:i+1])
		chunk = chunk[i+1:]
		p.lines--
	}
	return n, err
}

// splitHasher passes r through, writing it all to h, and keeps the state
// of h at the end of its first lines lines: one pass of SHA-256 for the
// whole file and for its first lines.
type splitHasher struct {
	r      io.Reader
	h      hash.Hash
	lines  uint64
	prefix []byte // the SHA-256 of the first lines lines, once read
}

func (s *splitHasher) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	chunk := b[:n]
	if s.prefix == nil && s.lines == 0 {
		s.snapshot()
	}
	if s.prefix == nil && len(chunk) > 0 {
		if c := uint64(bytes.Count(chunk, []byte{'\n'})); c < s.lines {
			s.lines -= c
		} else {
			i := 0
			for ; s.lines > 0; s.lines-- {
				i += bytes.IndexByte(chunk[i:], '\n') + 1
			}
			s.h.Write(chunk[:i])
			s.snapshot()
			chunk = chunk[i:]
		}
	}
	s.h.Write(chunk)
	return n, err
}

// snapshot finishes a copy of the hash state: the prefix's sum.
func (s *splitHasher) snapshot() {
	st, err := s.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // crypto/sha256 always can
	}
	c := sha256.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
		panic(err)
	}
	s.prefix = c.Sum(nil)
}

// prefixSum returns the SHA-256 of the first lines lines; of everything
// read, when the input had fewer lines.
func (s *splitHasher) prefixSum() []byte {
	if s.prefix == nil {
		return s.h.Sum(nil)
	}
	return s.prefix
}

// finish runs the checks that need several files.
func (vr *verifier) finish() {
	rep := vr.rep
	for _, name := range []string{FileManifest, FileSums, FileVerify, FileList, FileKey, FileCheckpoint, FileCustody, FileEntries} {
		if _, ok := vr.files[name]; !ok {
			vr.problem(Problem{File: name, What: "missing (removed)"})
		}
	}
	if vr.cd == nil || vr.cp == nil {
		vr.problem(Problem{What: "without a valid " + FileCheckpoint + " and " + FileCustody + " nothing else can be checked against the log"})
		return
	}
	cd := vr.cd
	c := &vr.contents
	c.vkey, c.origin, c.cp, c.custody, c.cd = vr.vkey, vr.kv.Name(), vr.cp, vr.custody, cd
	expected := map[string]bool{FileManifest: true, FileSums: true, FileVerify: true, FileList: true,
		FileKey: true, FileCheckpoint: true, FileCustody: true, FileEntries: true}
	for _, m := range cd.Media[1:] {
		expected[m] = true // by hash; matched to a path below
	}
	if vr.custody.Seq >= vr.cp.Size {
		vr.problem(Problem{File: FileCustody, Seq: seqp(vr.custody.Seq), What: "the checkpoint does not cover the export's custody entry", Want: fmt.Sprintf("seq < %d", vr.cp.Size), Got: fmt.Sprint(vr.custody.Seq)})
	}
	var entriesSum string
	switch {
	case cd.Scope == ScopeAll && !vr.streamed && vr.spill != nil:
		// entries.jsonl came before custody.jsonl: verify it now.
		if _, err := vr.spill.Seek(0, io.SeekStart); err == nil {
			vr.streamAll(vr.spill, nil)
		}
		fallthrough
	case cd.Scope == ScopeAll && vr.streamed:
		vr.finishAll()
		entriesSum = hex.EncodeToString(vr.firstN())
	case cd.Scope == ScopeCase && vr.spill != nil:
		entriesSum = vr.checkCase(expected)
	}
	if _, ok := vr.files[FileEntries]; ok && entriesSum != cd.EntriesSHA256 {
		what := "the exported entries differ from those the custody record names (changed, added, removed or reordered)"
		if cd.Scope == ScopeAll {
			what = fmt.Sprintf("the first %d entries differ from those the custody record names (changed)", cd.Size)
		}
		vr.problem(Problem{File: FileEntries, What: what, Want: cd.EntriesSHA256, Got: entriesSum})
		vr.files[FileEntries].bad = true
	}
	if c.n != cd.Entries && cd.Scope == ScopeCase {
		vr.problem(Problem{File: FileEntries, What: "number of entries", Want: fmt.Sprint(cd.Entries), Got: fmt.Sprint(c.n)})
	}
	rep.Entries = c.n

	// Media: exactly those of the custody record, each named by its hash.
	types := vr.types
	if types == nil {
		types = map[string]string{}
	}
	var paths []string
	for p := range vr.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	seenMedia := map[string]bool{}
	for _, p := range paths {
		kind, seq := kindOf(p)
		f := vr.files[p]
		switch {
		case kind == KindMedia:
			sha := p[len(DirMedia) : len(DirMedia)+64]
			if !expected[sha] {
				vr.problem(Problem{File: p, What: "a media file the custody record does not list (added)"})
				continue
			}
			seenMedia[sha] = true
			rep.Media++
			ct, ok := types[sha]
			if !ok {
				vr.problem(Problem{File: p, What: "no exported entry references this media file (added)"})
			} else if p != MediaPath(sha, ct) {
				vr.problem(Problem{File: p, What: "misnamed for its content type " + ct, Want: MediaPath(sha, ct), Got: p})
			}
			c.files = append(c.files, File{Path: p, Kind: KindMedia, Size: f.size, SHA256: f.sum, ContentType: ct})
		case kind == KindProof:
			if !expected[p] {
				vr.problem(Problem{File: p, What: "a proof for an entry the bundle does not hold (added)"})
				continue
			}
			c.files = append(c.files, File{Path: p, Kind: kind, Size: f.size, SHA256: f.sum, Seq: seq})
		case kind == "":
			vr.problem(Problem{File: p, What: "has no place in a bundle (added)"})
		case kind != KindVerify && kind != KindList && kind != KindManifest && kind != KindSums:
			c.files = append(c.files, File{Path: p, Kind: kind, Size: f.size, SHA256: f.sum})
		}
	}
	for _, m := range cd.Media[1:] {
		if !seenMedia[m] {
			vr.problem(Problem{File: MediaPath(m, types[m]), What: "missing (removed): the custody record lists this media file"})
		}
	}
	for p := range expected {
		if strings.HasPrefix(p, DirProofs) {
			if _, ok := vr.files[p]; !ok {
				vr.problem(Problem{File: p, What: "missing (removed)"})
			}
		}
	}
	slices.SortFunc(c.files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	rep.Files = len(vr.files)
	vr.checkDerived()
	m := c.manifest(nil)
	rep.Custody = &m.Custody
}

// finishAll checks a streamed whole log against the checkpoint.
func (vr *verifier) finishAll() {
	c := &vr.contents
	c.n = vr.entriesN
	if vr.chainErr != nil {
		p := Problem{File: FileEntries, What: vr.chainErr.Error()}
		var ce *ledger.ChainError
		if errors.As(vr.chainErr, &ce) {
			p = Problem{File: FileEntries, Seq: seqp(ce.Seq), Case: ce.Case, What: fmt.Sprintf("line %d: %s", ce.Seq+1, ce.What), Want: ce.Want, Got: ce.Got}
			if ce.What == "seq" {
				p.What += " (entries removed, added or reordered)"
			}
		}
		vr.problem(p)
		vr.files[FileEntries].bad = true
		// Count the lines for the report all the same.
		return
	}
	if vr.chain.Size() != vr.cp.Size || vr.chain.Root() != vr.cp.Root {
		vr.problem(Problem{File: FileEntries, What: "the entries do not make the checkpoint's tree (removed or added entries?)",
			Want: fmt.Sprintf("%d entries with root %s", vr.cp.Size, ledger.Hex(vr.cp.Root)), Got: fmt.Sprintf("%d entries with root %s", vr.chain.Size(), ledger.Hex(vr.chain.Root()))})
		vr.files[FileEntries].bad = true
	}
	if !vr.cfound {
		vr.problem(Problem{File: FileCustody, Seq: seqp(vr.custody.Seq), What: "the custody entry is not among the bundle's entries"})
	}
}

// checkCase verifies a case bundle's entries, each by its proof, and the
// case chain; it returns the SHA-256 of entries.jsonl.
func (vr *verifier) checkCase(expected map[string]bool) string {
	c := &vr.contents
	cd := vr.cd
	if _, err := vr.spill.Seek(0, io.SeekStart); err != nil {
		vr.problem(Problem{File: FileEntries, What: err.Error()})
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(vr.spill, vr.opts.MaxFile+1))
	if err != nil || int64(len(data)) > vr.opts.MaxFile {
		vr.problem(Problem{File: FileEntries, What: "too large for a case bundle"})
		return ""
	}
	sum := sha256.Sum256(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		vr.problem(Problem{File: FileEntries, What: "the last line has no newline (changed)"})
	}
	caseID, err := uuid.Parse(cd.CaseID)
	if err != nil {
		vr.problem(Problem{File: FileCustody, What: "the custody record names no case"})
	}
	linked := map[uuid.UUID]bool{}
	var caseSeq uint64
	var caseLeaf ledger.Hash
	var last *uint64
	var others []*ledger.Entry
	vr.types = map[string]string{}
	types := vr.types
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(data) == 0 {
		lines = nil
	}
	for i, line := range lines {
		c.n++
		e, err := ledger.DecodeEntry(line)
		if err != nil {
			vr.problem(Problem{File: FileEntries, What: fmt.Sprintf("line %d does not decode (changed): %v", i+1, err)})
			vr.files[FileEntries].bad = true
			continue
		}
		cs := ""
		if e.CaseID != uuid.Nil {
			cs = e.CaseID.String()
		}
		if last != nil && e.Seq <= *last {
			vr.problem(Problem{File: FileEntries, Seq: seqp(e.Seq), Case: cs, What: fmt.Sprintf("line %d: not in seq order, seq %d after seq %d (entries reordered)", i+1, e.Seq, *last)})
			vr.files[FileEntries].bad = true
		}
		last = seqp(e.Seq)
		leaf := ledger.LeafHash(line)
		expected[ProofPath(e.Seq)] = true
		vr.checkProof(ProofPath(e.Seq), e.Seq, cs, leaf)
		if e.Seq >= cd.Size {
			vr.problem(Problem{File: FileEntries, Seq: seqp(e.Seq), What: "entry after the size the export was cut at", Want: fmt.Sprintf("seq < %d", cd.Size), Got: fmt.Sprint(e.Seq)})
		}
		c.entryFacts(line, true, types)
		if e.CaseID == caseID {
			if e.CaseSeq != caseSeq+1 {
				vr.problem(Problem{File: FileEntries, Seq: seqp(e.Seq), Case: cs, What: "case_seq: an entry of the case is missing or out of order", Want: fmt.Sprint(caseSeq + 1), Got: fmt.Sprint(e.CaseSeq)})
			} else if e.CasePrev != caseLeaf {
				vr.problem(Problem{File: FileEntries, Seq: seqp(e.Seq), Case: cs, What: "case_prev: not the leaf hash of the case's previous entry", Want: ledger.Hex(caseLeaf), Got: ledger.Hex(e.CasePrev)})
			}
			caseSeq, caseLeaf = e.CaseSeq, leaf
			if e.Type == "recording.linked" {
				for _, id := range linkedIDs(line) {
					linked[id] = true
				}
			}
			continue
		}
		others = append(others, e)
	}
	for _, e := range others {
		if e.Type != "recording.made" || !linked[e.ID] {
			vr.problem(Problem{File: FileEntries, Seq: seqp(e.Seq), What: "neither an entry of the case nor a recording linked to it (added)"})
		}
	}
	// The custody entry's own proof.
	expected[ProofPath(vr.custody.Seq)] = true
	vr.checkProofFile(FileCustody, ProofPath(vr.custody.Seq), vr.custody.Seq, "", ledger.LeafHash(vr.cline))
	return hex.EncodeToString(sum[:])
}

func linkedIDs(line []byte) []uuid.UUID {
	var r struct {
		Data struct {
			Events []string `json:"events"`
		} `json:"data"`
	}
	if jsonUnmarshal(line, &r) != nil {
		return nil
	}
	var out []uuid.UUID
	for _, s := range r.Data.Events {
		if id, err := uuid.Parse(s); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func (vr *verifier) checkProof(path string, seq uint64, cs string, leaf ledger.Hash) {
	vr.checkProofFile(FileEntries, path, seq, cs, leaf)
}

// checkProofFile checks that proof file path proves leaf as entry seq in
// the bundle's checkpoint. what names the file the entry is in.
func (vr *verifier) checkProofFile(what, path string, seq uint64, cs string, leaf ledger.Hash) {
	f, ok := vr.files[path]
	if !ok {
		return // reported as missing
	}
	var tp tproof.TLogProof
	if err := tp.Unmarshal(f.data); err != nil {
		vr.problem(Problem{File: path, Seq: seqp(seq), Case: cs, What: "not a c2sp.org/tlog-proof (changed): " + err.Error()})
		f.bad = true
		return
	}
	if tp.Index != seq {
		vr.problem(Problem{File: path, Seq: seqp(seq), Case: cs, What: "the proof is for another entry (changed or swapped)", Want: fmt.Sprint(seq), Got: fmt.Sprint(tp.Index)})
		f.bad = true
		return
	}
	if cpf := vr.files[FileCheckpoint]; cpf == nil || !bytes.Equal(tp.Checkpoint, cpf.data) {
		vr.problem(Problem{File: path, Seq: seqp(seq), Case: cs, What: "carries another checkpoint than " + FileCheckpoint + " (changed)"})
		f.bad = true
		return
	}
	hs := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		hs[i] = tp.Hashes[i][:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, seq, vr.cp.Size, leaf[:], hs, vr.cp.Root[:]); err != nil {
		got, rerr := proof.RootFromInclusionProof(rfc6962.DefaultHasher, seq, vr.cp.Size, leaf[:], hs)
		found := hex.EncodeToString(got)
		if rerr != nil {
			found = rerr.Error()
		}
		vr.problem(Problem{File: what, Seq: seqp(seq), Case: cs, What: fmt.Sprintf("not in the signed log: its bytes or %s were changed (the audit path does not lead to the checkpoint's root)", path),
			Want: ledger.Hex(vr.cp.Root), Got: found})
		f.bad = true
		if wf := vr.files[what]; wf != nil {
			wf.bad = true
		}
	}
}

// checkDerived recomputes VERIFY.md, the 清单, manifest.json and SHA256SUMS
// from the other files and compares bytes.
func (vr *verifier) checkDerived() {
	c := &vr.contents
	want := map[string][]byte{FileVerify: c.verifyBytes(), FileList: c.listBytes()}
	// A 清单 that agrees with manifest.json's listing is not blamed for a
	// file that changed after both were written: that file is.
	var listed Manifest
	if f := vr.files[FileManifest]; f != nil && jsonUnmarshal(f.data, &listed) == nil {
		alt := *c
		alt.files = nil
		byPath := map[string]File{}
		for _, lf := range listed.Files {
			byPath[lf.Path] = lf
		}
		for _, af := range c.files {
			if lf, ok := byPath[af.Path]; ok {
				af.SHA256, af.Size = lf.SHA256, lf.Size
			}
			alt.files = append(alt.files, af)
		}
		if f := vr.files[FileList]; f != nil && bytes.Equal(f.data, alt.listBytes()) {
			want[FileList] = f.data
		}
	}
	for _, name := range []string{FileVerify, FileList} {
		if f := vr.files[name]; f != nil && !bytes.Equal(f.data, want[name]) {
			vr.problem(Problem{File: name, What: "changed: " + firstDiff(want[name], f.data)})
			f.bad = true
		}
	}
	derived := []File{fileOf(FileVerify, KindVerify, want[FileVerify]), fileOf(FileList, KindList, want[FileList])}
	m := c.manifest(derived)
	mb := manifestBytes(m)
	if f := vr.files[FileManifest]; f != nil && !bytes.Equal(f.data, mb) {
		// Name the files whose listing differs; blame the manifest when the
		// file itself checked out.
		var got Manifest
		if jsonUnmarshal(f.data, &got) == nil {
			listed := map[string]File{}
			for _, lf := range got.Files {
				listed[lf.Path] = lf
			}
			for _, wf := range m.Files {
				lf, ok := listed[wf.Path]
				switch {
				case !ok:
					vr.problem(Problem{File: FileManifest, What: "does not list " + wf.Path + " (the file was added, or the manifest changed)"})
				case lf.SHA256 != wf.SHA256 || lf.Size != wf.Size:
					if af := vr.files[wf.Path]; af != nil && !af.bad {
						vr.problem(Problem{File: FileManifest, What: "lists a wrong SHA-256 for " + wf.Path + " (the manifest was changed)", Want: wf.SHA256, Got: lf.SHA256})
					} else {
						vr.problem(Problem{File: wf.Path, What: "its SHA-256 differs from manifest.json's (the file was changed)", Want: lf.SHA256, Got: wf.SHA256})
					}
				}
				delete(listed, wf.Path)
			}
			for p := range listed {
				vr.problem(Problem{File: FileManifest, What: "lists " + p + ", which the bundle does not hold (removed)"})
			}
		}
		vr.problem(Problem{File: FileManifest, What: "differs from the manifest the bundle's files determine: " + firstDiff(mb, f.data)})
	}
	all := append(slices.Clone(m.Files), File{Path: FileManifest, SHA256: vr.sumOf(FileManifest)})
	slices.SortFunc(all, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	if f := vr.files[FileSums]; f != nil {
		if sb := sumsBytes(all); !bytes.Equal(f.data, sb) {
			vr.problem(Problem{File: FileSums, What: "differs from the SHA-256 of the bundle's files: " + firstDiff(sb, f.data)})
		}
	}
}

func (vr *verifier) sumOf(name string) string {
	if f := vr.files[name]; f != nil {
		return f.sum
	}
	return ""
}

// firstDiff describes where got first differs from want, by line.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g || i >= len(wl) || i >= len(gl) {
			return fmt.Sprintf("line %d is %q, expected %q", i+1, clip(g), clip(w))
		}
	}
	return "same lines, different bytes"
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
