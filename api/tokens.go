package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liuhen/liuhen/internal/durable"
)

// Role is one of the four roles a token carries, or a set of them where an
// endpoint says who may call it. Public is not a role: it marks an endpoint
// that needs no token at all.
type Role uint8

const (
	RoleDevice   Role = 1 << iota // a recording device: appends its own records, uploads media
	RoleAuditor                   // reads everything, proofs, media
	RoleReporter                  // case files, findings, reports (projection endpoints)
	RoleAdmin                     // tokens, plus everything RoleAuditor may

	// Public marks an endpoint anyone may call without a token. A token that
	// is presented anyway must still be valid.
	Public Role = 1 << 7

	// Readers is who may read the ledger: auditors and admins.
	Readers = RoleAuditor | RoleAdmin
)

var roleNames = []struct {
	r    Role
	name string
}{{RoleDevice, "device"}, {RoleAuditor, "auditor"}, {RoleReporter, "reporter"}, {RoleAdmin, "admin"}}

// String returns the role's name ("device", "auditor", "reporter", "admin"),
// or the names of a set joined by "|".
func (r Role) String() string {
	var names []string
	for _, n := range roleNames {
		if r&n.r != 0 {
			names = append(names, n.name)
		}
	}
	if r&Public != 0 {
		names = append(names, "public")
	}
	return strings.Join(names, "|")
}

// ParseRole parses a single role name.
func ParseRole(s string) (Role, error) {
	for _, n := range roleNames {
		if n.name == s {
			return n.r, nil
		}
	}
	return 0, fmt.Errorf("unknown role %q (want device, auditor, reporter or admin)", s)
}

func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	*r = v
	return err
}

// A Token is what the server keeps about a bearer token: never the secret,
// only its SHA-256.
type Token struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Role     Role      `json:"role"`
	DeviceID string    `json:"device_id,omitempty"`
	Created  time.Time `json:"created"`
	SHA256   string    `json:"sha256"` // hex SHA-256 of the secret
}

// ErrTokenNotFound is returned by Tokens.Revoke for an unknown id.
var ErrTokenNotFound = errors.New("api: token not found")

// Tokens is the token store: a JSON file (mode 0600) holding the hashes of
// all valid tokens, rewritten with temp file, fsync and rename on every
// change, and held in memory for lookups. It is safe for concurrent use.
// Creating and revoking tokens is rare; authenticating is one SHA-256 and a
// map lookup.
type Tokens struct {
	path string

	mu     sync.RWMutex
	byHash map[[32]byte]*Token // guarded by mu
	list   []*Token            // guarded by mu, in creation order
}

// OpenTokens loads the token store at path. A missing file is an empty
// store; the file is created on the first Create.
func OpenTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path, byHash: make(map[[32]byte]*Token)}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	var list []*Token
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("api: token store %s: %v", path, err)
	}
	for _, tok := range list {
		h, err := hex.DecodeString(tok.SHA256)
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("api: token store %s: token %s has a bad hash", path, tok.ID)
		}
		t.byHash[[32]byte(h)] = tok
	}
	t.list = list
	return t, nil
}

// tokenPrefix makes liuhen tokens recognisable to secret scanners.
const tokenPrefix = "lh_"

// Create makes a new token and returns its secret, which is not stored and
// cannot be shown again. A device token must name its device id; other
// roles must not.
func (t *Tokens) Create(role Role, deviceID, name string) (string, Token, error) {
	if _, err := ParseRole(role.String()); err != nil {
		return "", Token{}, fmt.Errorf("role must be exactly one of device, auditor, reporter, admin")
	}
	if name == "" || len(name) > 200 {
		return "", Token{}, errors.New("name must be 1 to 200 bytes")
	}
	if role == RoleDevice && !validDeviceID(deviceID) {
		return "", Token{}, errors.New("a device token needs a device_id of 1 to 128 printable characters")
	}
	if role != RoleDevice && deviceID != "" {
		return "", Token{}, errors.New("only device tokens carry a device_id")
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	var idb [8]byte
	rand.Read(idb[:])
	tok := &Token{ID: "tok_" + hex.EncodeToString(idb[:]), Name: name, Role: role, DeviceID: deviceID,
		Created: time.Now().UTC().Truncate(time.Second), SHA256: hex.EncodeToString(h[:])}

	t.mu.Lock()
	defer t.mu.Unlock()
	list := append(slices.Clip(t.list), tok)
	if err := t.save(list); err != nil {
		return "", Token{}, err
	}
	t.list = list
	t.byHash[h] = tok
	return secret, *tok, nil
}

// Revoke deletes a token by id. Requests already authenticated with it
// finish; later ones get 401.
func (t *Tokens) Revoke(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.list, func(tok *Token) bool { return tok.ID == id })
	if i < 0 {
		return ErrTokenNotFound
	}
	list := slices.Delete(slices.Clone(t.list), i, i+1)
	if err := t.save(list); err != nil {
		return err
	}
	h, _ := hex.DecodeString(t.list[i].SHA256)
	delete(t.byHash, [32]byte(h))
	t.list = list
	return nil
}

// List returns every valid token, in creation order.
func (t *Tokens) List() []Token {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Token, len(t.list))
	for i, tok := range t.list {
		out[i] = *tok
	}
	return out
}

// Authenticate returns the token whose secret is secret.
func (t *Tokens) Authenticate(secret string) (Token, bool) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Token{}, false
	}
	h := sha256.Sum256([]byte(secret))
	t.mu.RLock()
	defer t.mu.RUnlock()
	tok, ok := t.byHash[h]
	if !ok {
		return Token{}, false
	}
	return *tok, true
}

// Snapshot returns the store file's contents as of now: what save writes.
func (t *Tokens) Snapshot() ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	b, err := json.MarshalIndent(t.list, "", "  ")
	return append(b, '\n'), err
}

// save writes list to the store file durably: temp file, fsync, rename,
// fsync of the directory.
func (t *Tokens) save(list []*Token) error {
	b, err := json.MarshalIndent(list, "", "  ") // as Snapshot
	if err != nil {
		return err
	}
	return durable.WriteFile(t.path, append(b, '\n'), 0o600)
}

// validDeviceID mirrors the ledger's rule for device.id.
func validDeviceID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
