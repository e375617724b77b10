package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/transparency-dev/formats/proof"

	"github.com/liuhen/liuhen/ledger"
)

func writeNote(w http.ResponseWriter, b []byte) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// checkpoint is GET /v1/checkpoint: the latest signed checkpoint note.
func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, _ *Token) error {
	cp := s.coveringHead(r.Context())
	if cp == nil {
		return problem(CodeUnavailable, "no checkpoint signed yet")
	}
	w.Header().Set("Cache-Control", "no-cache")
	return writeNote(w, cp.Note)
}

// witnessedCheckpoint is GET /v1/checkpoint/witnessed: the latest
// checkpoint cosigned by the quorum of the server's witness policy (the
// log's note followed by the witnesses' cosignature lines).
func (s *Server) witnessedCheckpoint(w http.ResponseWriter, r *http.Request, _ *Token) error {
	if s.cfg.Witnessed == nil {
		return problem(CodeNotFound, "this server has no witness policy (liuhen serve --witness-policy)")
	}
	b := s.cfg.Witnessed()
	if b == nil {
		return problem(CodeUnavailable, "no checkpoint has been cosigned by the witness policy's quorum yet")
	}
	w.Header().Set("Cache-Control", "no-cache")
	return writeNote(w, b)
}

// coveringHead returns the latest checkpoint once it covers the head as it
// is now, so that GET /v1/checkpoint covers every entry acknowledged before
// it was asked: under load the ledger signs at most once per checkpoint
// interval (20 ms by default), and this waits for that one, at most
// ReceiptWait. A ledger that stopped signs nothing more: it answers at once.
func (s *Server) coveringHead(ctx context.Context) *ledger.Checkpoint {
	size := s.l.Head().Size
	if size == 0 {
		return s.l.Checkpoint()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReceiptWait)
	defer cancel()
	for {
		changed := s.l.WaitCheckpoint()
		cp := s.l.Checkpoint()
		if cp != nil && cp.Size >= size || s.l.Err() != nil {
			return cp
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cp
		}
	}
}

// checkpointAt is GET /v1/checkpoints?size=N: the checkpoint signed at
// exactly size N, if one was.
func (s *Server) checkpointAt(w http.ResponseWriter, r *http.Request, _ *Token) error {
	if r.URL.Query().Get("size") == "" {
		return badParam("size", "size is required")
	}
	size, err := queryUint(r, "size", 0)
	if err != nil {
		return err
	}
	cp, err := s.l.CheckpointAt(size)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return writeNote(w, cp.Note)
}

func hexes(hs []ledger.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = ledger.Hex(h)
	}
	return out
}

// treeSize reads a tree size parameter; absent means the latest checkpoint's
// size, so that the root answered is one a signed checkpoint vouches for.
func (s *Server) treeSize(r *http.Request, name string) (uint64, error) {
	if r.URL.Query().Get(name) == "" {
		if cp := s.l.Checkpoint(); cp != nil {
			return cp.Size, nil
		}
		return s.l.Head().Size, nil
	}
	n, err := queryUint(r, name, 0)
	if err != nil {
		return 0, err
	}
	if head := s.l.Head().Size; n > head {
		return 0, badParam(name, name+" "+strconv.FormatUint(n, 10)+" is beyond the ledger size "+strconv.FormatUint(head, 10))
	}
	return n, nil
}

type inclusionAnswer struct {
	Seq   uint64   `json:"seq"`
	Size  uint64   `json:"size"`
	Leaf  string   `json:"leaf"`
	Root  string   `json:"root"`
	Proof []string `json:"proof"`
}

// inclusionProof is GET /v1/proofs/inclusion?seq=&size=: the RFC 6962
// audit path of entry seq in the tree of size entries, bottom-up.
func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request, _ *Token) error {
	if r.URL.Query().Get("seq") == "" {
		return badParam("seq", "seq is required")
	}
	seq, err := queryUint(r, "seq", 0)
	if err != nil {
		return err
	}
	size, err := s.treeSize(r, "size")
	if err != nil {
		return err
	}
	if seq >= size {
		return badParam("seq", "seq must be below size "+strconv.FormatUint(size, 10))
	}
	p, err := s.l.InclusionProof(seq, size)
	if err != nil {
		return err
	}
	leaf, err := s.l.LeafHashAt(seq)
	if err != nil {
		return err
	}
	root, err := s.l.RootAt(size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inclusionAnswer{seq, size, ledger.Hex(leaf), ledger.Hex(root), hexes(p)})
}

type consistencyAnswer struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Proof    []string `json:"proof"`
}

// consistencyProof is GET /v1/proofs/consistency?from=&to=: the RFC 6962
// proof that the tree of size from is a prefix of the tree of size to.
func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request, _ *Token) error {
	if r.URL.Query().Get("from") == "" {
		return badParam("from", "from is required")
	}
	from, err := queryUint(r, "from", 0)
	if err != nil {
		return err
	}
	to, err := s.treeSize(r, "to")
	if err != nil {
		return err
	}
	if from == 0 || from > to {
		return badParam("from", "from must be 1 to "+strconv.FormatUint(to, 10))
	}
	p, err := s.l.ConsistencyProof(from, to)
	if err != nil {
		return err
	}
	fr, err := s.l.RootAt(from)
	if err != nil {
		return err
	}
	tr, err := s.l.RootAt(to)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, consistencyAnswer{from, to, ledger.Hex(fr), ledger.Hex(tr), hexes(p)})
}

// receipt is GET /v1/events/{seq}/receipt: a c2sp.org/tlog-proof@v1 of the
// entry's inclusion in the smallest signed checkpoint that covers it,
// waiting up to ReceiptWait for that checkpoint. With the entry's bytes
// (GET /v1/events/{seq}) and the log's verifier key, it verifies offline.
func (s *Server) receipt(w http.ResponseWriter, r *http.Request, _ *Token) error {
	seq, err := seqParam(r)
	if err != nil {
		return err
	}
	var b []byte
	switch r.URL.Query().Get("witnessed") {
	case "", "false":
		b, err = s.receiptOf(r.Context(), seq)
	case "true":
		b, err = s.witnessedReceipt(r.Context(), seq)
	default:
		return &Problem{Code: CodeBadParameter, Field: "witnessed", Detail: "witnessed is true or false"}
	}
	if err != nil {
		return err
	}
	if r.URL.Query().Get("witnessed") == "true" {
		// Valid for good, but to the latest witnessed checkpoint, which
		// moves on: the next request may get a later one.
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	return writeNote(w, b)
}

// witnessedReceipt is receiptOf against the latest witnessed checkpoint,
// cosignatures included, once it covers seq: the witness policy's quorum
// then vouches that the log holding the entry is the one they were shown.
func (s *Server) witnessedReceipt(ctx context.Context, seq uint64) ([]byte, error) {
	if s.cfg.Witnessed == nil {
		return nil, problem(CodeNotFound, "this server has no witness policy (liuhen serve --witness-policy)")
	}
	if seq >= s.l.Head().Size {
		return nil, problem(CodeNotFound, "no entry "+strconv.FormatUint(seq, 10))
	}
	deadline := time.Now().Add(s.cfg.ReceiptWait)
	for {
		if b := s.cfg.Witnessed(); b != nil {
			cp, err := ledger.OpenCheckpoint(b, s.l.Origin(), s.l.Verifier())
			if err != nil {
				return nil, err
			}
			if cp.Size > seq {
				cp.Note = b
				return s.receiptAt(seq, cp)
			}
		}
		if time.Now().After(deadline) {
			return nil, problem(CodeUnavailable, "no witnessed checkpoint covers this entry yet; retry")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// receiptOf returns the receipt of entry seq (see receipt).
func (s *Server) receiptOf(ctx context.Context, seq uint64) ([]byte, error) {
	if seq >= s.l.Head().Size {
		return nil, problem(CodeNotFound, "no entry "+strconv.FormatUint(seq, 10))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReceiptWait)
	defer cancel()
	cp, err := s.l.CheckpointCovering(ctx, seq+1)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, problem(CodeUnavailable, "no checkpoint covers this entry yet; retry")
		}
		return nil, err
	}
	return s.receiptAt(seq, cp)
}

// receiptAt is the receipt of entry seq in checkpoint cp, its note as it
// is (with any cosignatures).
func (s *Server) receiptAt(seq uint64, cp *ledger.Checkpoint) ([]byte, error) {
	p, err := s.l.InclusionProof(seq, cp.Size)
	if err != nil {
		return nil, err
	}
	tp := proof.TLogProof{Index: seq, Checkpoint: cp.Note, Hashes: make([][sha256.Size]byte, len(p))}
	for i, h := range p {
		tp.Hashes[i] = h
	}
	return tp.Marshal(), nil
}

type verifyAnswer struct {
	OK         bool   `json:"ok"`
	From       uint64 `json:"from"`
	Size       uint64 `json:"size"`
	Root       string `json:"root"`
	Checkpoint uint64 `json:"checkpoint_size"`
	Cases      int    `json:"cases"`
}

// verify is GET /v1/verify: ledger.Verify over the whole log, the same
// check the tests and `liuhen verify` run. A failure is 500 with code
// corrupt and the place it was found.
func (s *Server) verify(w http.ResponseWriter, r *http.Request, _ *Token) error {
	rep, err := s.l.Verify(r.Context())
	if err != nil {
		if errors.Is(err, ledger.ErrCorrupt) {
			return problem(CodeCorrupt, err.Error())
		}
		return err
	}
	ans := verifyAnswer{OK: true, From: rep.From, Size: rep.Size, Root: ledger.Hex(rep.Root), Cases: rep.Cases}
	if rep.Checkpoint != nil {
		ans.Checkpoint = rep.Checkpoint.Size
	}
	return writeJSON(w, http.StatusOK, ans)
}
