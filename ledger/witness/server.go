// Package witness gives the ledger split-view protection: independent
// witnesses check that every checkpoint they see extends the last one they
// cosigned, and cosign it (C2SP tlog-witness, tlog-cosignature); auditors and
// courts then accept only checkpoints cosigned by a quorum of witnesses they
// trust (a witness policy), so the server cannot show one history to one
// party and another to another.
//
// Server is a witness (liuhen witness): anyone independent of the agency, a
// court or a 法制 office, can run it. Submitter is the log's side (liuhen
// serve --witness-policy): it sends each new checkpoint, with a consistency
// proof, to the policy's witnesses and keeps the latest checkpoint that the
// policy's quorum cosigned. The cosignatures are Ed25519 cosignature/v1
// (golang.org/x/mod/sumdb/note with transparency-dev/formats/note), the
// policy is parsed by transparency-dev/formats/witness, and consistency
// proofs are checked by transparency-dev/merkle.
package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/liuhen/liuhen/internal/durable"
	"github.com/liuhen/liuhen/ledger"
)

// ContentTypeSize is the type of a 409 answer's body: the witness's size for
// the log.
const ContentTypeSize = "text/x.tlog.size"

// maxRequest bounds an add-checkpoint body: a checkpoint and a proof of at
// most 64 hashes are a few KB.
const maxRequest = 64 << 10

// A Server is a witness: it answers POST /add-checkpoint (C2SP tlog-witness)
// for the logs it knows, and keeps, per log, the size and root it last
// cosigned in StateDir, fsynced before it answers. It is safe for concurrent
// use; one Server must own StateDir.
type Server struct {
	cosigner note.Signer
	logs     map[string]note.Verifier // by origin
	dir      string
	log      *slog.Logger

	mu    sync.Mutex
	state map[string]treeState // by origin; guarded by mu
}

type treeState struct {
	size uint64
	root ledger.Hash
}

// NewServer returns a witness that cosigns with cosigner the checkpoints of
// the logs whose verifier keys are given, keeping its state in dir
// (created if missing).
func NewServer(cosigner note.Signer, logs []note.Verifier, dir string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{cosigner: cosigner, logs: map[string]note.Verifier{}, dir: dir, log: logger, state: map[string]treeState{}}
	for _, v := range logs {
		s.logs[v.Name()] = v
		st, err := s.load(v.Name())
		if err != nil {
			return nil, err
		}
		s.state[v.Name()] = st
	}
	return s, nil
}

// statePath is the file of a log's state: its origin's SHA-256 in hex.
func (s *Server) statePath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(s.dir, hex.EncodeToString(h[:]))
}

// The state file is "<origin>\n<size>\n<base64 root>\n".
func (s *Server) load(origin string) (treeState, error) {
	b, err := os.ReadFile(s.statePath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return treeState{}, nil
	}
	if err != nil {
		return treeState{}, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		return treeState{}, fmt.Errorf("witness: state of %s: malformed", origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	root, rerr := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || rerr != nil || len(root) != 32 {
		return treeState{}, fmt.Errorf("witness: state of %s: malformed", origin)
	}
	return treeState{size: size, root: ledger.Hash(root)}, nil
}

func (s *Server) save(origin string, st treeState) error {
	b := fmt.Sprintf("%s\n%d\n%s\n", origin, st.size, base64.StdEncoding.EncodeToString(st.root[:]))
	return durable.WriteFile(s.statePath(origin), []byte(b), 0o600)
}

// ServeHTTP answers POST /add-checkpoint, and GET /healthz (200 while the
// witness serves) for monitoring.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "ok: witnessing %d logs\n", len(s.logs))
		return
	}
	if r.URL.Path != "/add-checkpoint" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		http.Error(w, "body too large or cut", http.StatusBadRequest)
		return
	}
	sigs, code, msg, size := s.add(body)
	if code == http.StatusConflict {
		w.Header().Set("Content-Type", ContentTypeSize)
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d\n", size)
		return
	}
	if code != http.StatusOK {
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(sigs)
}

// add checks one request and cosigns. It returns the cosignature lines, or
// a status with a message (and, for 409, the witness's size).
func (s *Server) add(body []byte) (sigs []byte, code int, msg string, size uint64) {
	old, hashes, cp, err := ParseRequest(body)
	if err != nil {
		return nil, http.StatusBadRequest, err.Error(), 0
	}
	origin, _, _ := bytes.Cut(cp, []byte("\n"))
	v, ok := s.logs[string(origin)]
	if !ok {
		return nil, http.StatusNotFound, "unknown log " + strconv.Quote(string(origin)), 0
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		return nil, http.StatusForbidden, "the checkpoint is not signed by the log's key: " + err.Error(), 0
	}
	c, err := ledger.OpenCheckpoint(cp, v.Name(), v)
	if err != nil {
		return nil, http.StatusBadRequest, "malformed checkpoint: " + err.Error(), 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.state[v.Name()]
	if old != cur.size {
		return nil, http.StatusConflict, "", cur.size
	}
	if c.Size < old {
		return nil, http.StatusBadRequest, fmt.Sprintf("the checkpoint's size %d is below the old size %d", c.Size, old), 0
	}
	switch {
	case old == 0:
		if len(hashes) != 0 {
			return nil, http.StatusUnprocessableEntity, "a consistency proof from size 0 must be empty", 0
		}
	default:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, c.Size, hashes, cur.root[:], c.Root[:]); err != nil {
			return nil, http.StatusUnprocessableEntity, "consistency proof: " + err.Error(), 0
		}
	}
	if c.Size > cur.size || cur.size == 0 {
		next := treeState{size: c.Size, root: c.Root}
		if err := s.save(v.Name(), next); err != nil {
			s.log.Error("witness: saving state", "origin", v.Name(), "err", err)
			return nil, http.StatusInternalServerError, "the witness could not save its state", 0
		}
		s.state[v.Name()] = next
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, s.cosigner)
	if err != nil {
		return nil, http.StatusInternalServerError, err.Error(), 0
	}
	// The signed note is the text, a blank line and our signature line.
	_, line, _ := bytes.Cut(signed, []byte("\n\n"))
	s.log.Info("witness: cosigned", "origin", v.Name(), "size", c.Size, "from", old)
	return line, http.StatusOK, "", 0
}

// ParseRequest parses an add-checkpoint body: "old N", the consistency
// proof's hashes in base64 one per line, a blank line, the checkpoint.
func ParseRequest(body []byte) (old uint64, hashes [][]byte, checkpoint []byte, err error) {
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	n, isOld := strings.CutPrefix(string(line), "old ")
	if !ok || !isOld {
		return 0, nil, nil, errors.New(`the first line must be "old <size>"`)
	}
	if old, err = strconv.ParseUint(n, 10, 64); err != nil || (len(n) > 1 && n[0] == '0') {
		return 0, nil, nil, errors.New("bad old size")
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return 0, nil, nil, errors.New("no blank line before the checkpoint")
		}
		if len(line) == 0 {
			if len(rest) == 0 {
				return 0, nil, nil, errors.New("no checkpoint after the blank line")
			}
			return old, hashes, rest, nil
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != 32 {
			return 0, nil, nil, fmt.Errorf("bad proof hash %q", line)
		}
		if len(hashes) == 63 {
			return 0, nil, nil, errors.New("a consistency proof has at most 63 hashes")
		}
		hashes = append(hashes, h)
	}
}

// FormatRequest is ParseRequest's inverse.
func FormatRequest(old uint64, hashes [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// NewCosigner returns the cosignature/v1 signer of a witness key (an
// Ed25519 signed-note private key, as liuhen keygen writes) and its
// verifier key, the vkey (type 0x04) that witness policies name.
func NewCosigner(skey string) (note.Signer, string, error) {
	s, err := ledger.NewSigner(skey)
	if err != nil {
		return nil, "", err
	}
	vkey, err := fnote.VKeyToCosignatureV1(s.VKey)
	if err != nil {
		return nil, "", err
	}
	c, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, "", err
	}
	return c, vkey, nil
}
