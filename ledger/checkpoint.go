package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	tlogfmt "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// A Checkpoint is a signed C2SP tlog-checkpoint: the tree of Size entries has
// root hash Root, and Note is the signed note text that says so.
type Checkpoint struct {
	Size uint64
	Root Hash
	Note []byte
}

// GenerateKey returns a new Ed25519 checkpoint signing key and its verifier
// key, in golang.org/x/mod/sumdb/note form. The key name is the log origin,
// as C2SP tlog-checkpoint recommends.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

// WriteKeyFile writes a signing key to path with mode 0600. It refuses to
// overwrite an existing file.
func WriteKeyFile(path, skey string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadSigner reads a signing key written by WriteKeyFile. A key file that
// group or others may read is refused with ErrKeyPermissions: a leaked key
// lets anyone sign a forged history.
func LoadSigner(path string) (*Signer, error) {
	skey, err := ReadKeyFile(path)
	if err != nil {
		return nil, err
	}
	return NewSigner(skey)
}

// ReadKeyFile returns the private key in a file written by WriteKeyFile,
// refusing, as LoadSigner does, a file that group or others may read.
func ReadKeyFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %v, want 0600", ErrKeyPermissions, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// A Signer signs checkpoints. It is a note.Signer that also knows its
// verifier key.
type Signer struct {
	note.Signer
	VKey string // the verifier key line, name+hash+base64(0x01||pubkey)
}

// NewSigner parses an Ed25519 signing key in note form.
func NewSigner(skey string) (*Signer, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("ledger: signing key: %v", err)
	}
	vkey, err := VerifierKey(skey)
	if err != nil {
		return nil, err
	}
	return &Signer{Signer: s, VKey: vkey}, nil
}

// ReadVerifierKey reads a verifier key (a C2SP vkey line) from a file.
func ReadVerifierKey(path string) (note.Verifier, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	vkey := strings.TrimSpace(string(b))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("ledger: %s: %v", path, err)
	}
	return v, vkey, nil
}

// VerifierKey derives the verifier key (a C2SP vkey line) from an Ed25519
// signing key in golang.org/x/mod/sumdb/note form.
func VerifierKey(skey string) (string, error) {
	if _, err := note.NewSigner(skey); err != nil {
		return "", fmt.Errorf("ledger: signing key: %v", err)
	}
	// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>", as checked above.
	// Base64 may contain '+', so cut exactly four times.
	_, rest, _ := strings.Cut(skey, "+")
	_, rest, _ = strings.Cut(rest, "+")
	name, rest, _ := strings.Cut(rest, "+")
	_, data, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("ledger: signing key is not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}

func checkOrigin(origin string) error {
	if origin == "" || len(origin) > 255 || strings.ContainsAny(origin, "\n+ ") {
		return fmt.Errorf("ledger: origin %q must be 1 to 255 characters with no space, '+' or newline", origin)
	}
	for _, c := range origin {
		if c < 0x21 || c == 0x7f {
			return fmt.Errorf("ledger: origin %q has a control character", origin)
		}
	}
	return nil
}

// signCheckpoint signs the C2SP checkpoint body for (size, root). Ed25519 is
// deterministic and the body has no timestamp, so signing the same size twice
// gives the same bytes.
func signCheckpoint(signer note.Signer, origin string, size uint64, root Hash) ([]byte, error) {
	body := tlogfmt.Checkpoint{Origin: origin, Size: size, Hash: root[:]}.Marshal()
	return note.Sign(&note.Note{Text: string(body)}, signer)
}

// OpenCheckpoint verifies a signed checkpoint note against the log's verifier
// key and origin and returns what it says. Signatures from other keys (such
// as witnesses) are ignored.
func OpenCheckpoint(b []byte, origin string, v note.Verifier) (*Checkpoint, error) {
	cp, _, _, err := tlogfmt.ParseCheckpoint(b, origin, v)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint: %v", err)
	}
	if len(cp.Hash) != len(Hash{}) {
		return nil, fmt.Errorf("ledger: checkpoint root is %d bytes", len(cp.Hash))
	}
	c := &Checkpoint{Size: cp.Size, Note: b}
	copy(c.Root[:], cp.Hash)
	return c, nil
}
