package natsrv

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Message headers. Every events message carries the first five (and
// Nats-Expected-Last-Sequence; no Nats-Msg-Id, see ledger/outbox); every
// checkpoints message carries the last two and "Nats-Msg-Id" set to
// "checkpoint-<size>". Values are ASCII: decimal integers, lowercase hex
// hashes, canonical UUIDs.
const (
	HeaderSeq      = "Liuhen-Seq"       // the entry's 0-based seq; the stream sequence is seq+1
	HeaderLeafHash = "Liuhen-Leaf-Hash" // RFC 6962 leaf hash of the payload, hex
	HeaderType     = "Liuhen-Type"      // the record type, e.g. inspection.recorded
	HeaderCase     = "Liuhen-Case"      // the case id; absent when the entry has no case
	HeaderDevice   = "Liuhen-Device"    // the device id; absent when the record has none
	HeaderSize     = "Liuhen-Size"      // checkpoints: the tree size
	HeaderRoot     = "Liuhen-Root"      // checkpoints: the root hash, hex
)

// NoCase is the case token of entries without a case. Case ids are UUIDs,
// so it cannot collide with one.
const NoCase = "none"

// Metadata key on both streams naming the ledger origin they belong to.
// EnsureStreams refuses a stream that belongs to another origin.
const metaOrigin = "liuhen_origin"

// A Layout names the streams and subjects of one ledger. One events stream
// holds exactly one ledger: its stream sequence is the ledger seq plus one.
//
// Subjects (docs/architecture.md, "Subjects"):
//
//	liuhen.<token>.events.<area>.<action>.<case-id|none>   one message per entry
//	liuhen.<token>.checkpoints                              one message per signed checkpoint
//
// A record type "area.action" becomes the two tokens area and action. NATS
// tokens cannot contain '.', so in a type with more dots every dot after
// the first becomes '-' ("a.b.c" → "a.b-c"); types never contain '-',
// so the mapping is reversible.
type Layout struct {
	// Origin is the ledger's origin. Required. It is recorded in the
	// streams' metadata.
	Origin string
	// Token is the subject token for the origin. Default: Origin with
	// every character outside [A-Za-z0-9_-] replaced by '_'.
	Token string
	// Events is the events stream's name. Default "LIUHEN_EVENTS".
	Events string
	// Checkpoints is the checkpoints stream's name. Default
	// "LIUHEN_CHECKPOINTS".
	Checkpoints string
}

// NewLayout returns the default layout for a ledger origin.
func NewLayout(origin string) Layout {
	l := Layout{Origin: origin}
	l.setDefaults()
	return l
}

func (l *Layout) setDefaults() {
	if l.Token == "" {
		l.Token = OriginToken(l.Origin)
	}
	if l.Events == "" {
		l.Events = "LIUHEN_EVENTS"
	}
	if l.Checkpoints == "" {
		l.Checkpoints = "LIUHEN_CHECKPOINTS"
	}
}

// WithDefaults returns l with its defaults filled in.
func (l Layout) WithDefaults() Layout {
	l.setDefaults()
	return l
}

// Validate reports every problem with the layout, after defaults.
func (l Layout) Validate() error {
	l.setDefaults()
	var errs []error
	if l.Origin == "" {
		errs = append(errs, errors.New("natsrv: Layout.Origin is required"))
	}
	if !validToken(l.Token) {
		errs = append(errs, fmt.Errorf("natsrv: subject token %q must be non-empty [A-Za-z0-9_-]", l.Token))
	}
	for _, n := range []string{l.Events, l.Checkpoints} {
		if !validToken(n) {
			errs = append(errs, fmt.Errorf("natsrv: stream name %q must be non-empty [A-Za-z0-9_-]", n))
		}
	}
	if l.Events == l.Checkpoints {
		errs = append(errs, errors.New("natsrv: the events and checkpoints streams need different names"))
	}
	return errors.Join(errs...)
}

// OriginToken maps an origin to a subject token.
func OriginToken(origin string) string {
	b := []byte(origin)
	for i, c := range b {
		if !tokenChar(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

// TypeTokens maps a record type to its two subject tokens, joined by '.'.
func TypeTokens(typ string) string {
	area, action, ok := strings.Cut(typ, ".")
	if !ok {
		return typ + ".-" // not a valid ledger type; kept routable
	}
	return area + "." + strings.ReplaceAll(action, ".", "-")
}

// CaseToken is the subject token for a case id.
func CaseToken(c uuid.UUID) string {
	if c == uuid.Nil {
		return NoCase
	}
	return c.String()
}

func (l Layout) prefix() string {
	l.setDefaults()
	return "liuhen." + l.Token + "."
}

// EventSubject is the subject of an entry of type typ in case c (uuid.Nil
// for none).
func (l Layout) EventSubject(typ string, c uuid.UUID) string {
	return l.prefix() + "events." + TypeTokens(typ) + "." + CaseToken(c)
}

// EventsFilter matches every entry of the ledger. Narrower filters follow
// the subject layout: by type "liuhen.<token>.events.inspection.recorded.*",
// by case "liuhen.<token>.events.*.*.<case-id>".
func (l Layout) EventsFilter() string { return l.prefix() + "events.>" }

// CheckpointSubject is the subject of the ledger's signed checkpoints.
func (l Layout) CheckpointSubject() string { return l.prefix() + "checkpoints" }
