package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/liuhen/liuhen/ledger"
)

// An Entry is a verified ledger entry with the record members that the
// projections read decoded once, so that every projection of a store shares
// the work.
type Entry struct {
	*ledger.Entry                 // Hash() is its leaf hash (RFC 6962)
	OccurredAt    time.Time       // occurred_at, with the device's offset
	Officers      []Officer       // officers, as recorded
	Media         []Media         // media, as recorded
	Data          json.RawMessage // data, the type-specific object; nil when absent
}

// An Officer is one element of a record's officers (执法人员).
type Officer struct {
	ID     string `json:"id,omitempty"`
	CertNo string `json:"cert_no,omitempty"` // 执法证号
	Name   string `json:"name,omitempty"`
}

// A Media item is one file a record refers to by SHA-256 (音像资料).
type Media struct {
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	StartedAt   string `json:"started_at,omitempty"`
	EndedAt     string `json:"ended_at,omitempty"`
}

type envelope struct {
	OccurredAt string         `json:"occurred_at"`
	Officers   []Officer      `json:"officers"`
	Media      []Media        `json:"media"`
	Data       jsontext.Value `json:"data"`
}

// decodeOptions make encoding/json/v2 read records as encoding/json (v1)
// does where it matters for record data: names matched case-insensitively,
// '_' and '-' included, so that untagged fields keep working. The
// remaining differences (v2 rejects duplicate names and invalid UTF-8)
// cannot occur: stored records are canonical JSON (RFC 8785).
var decodeOptions = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true))

// Decode decodes the record members of a verified entry. It fails only on
// bytes the ledger would not have stored (the consumer has verified the hash
// and links), so an error here is fatal to the projection. Like e.Bytes,
// the Entry's Data may be used only while e.Bytes is valid (during Apply);
// what DecodeData decodes from it is a copy.
func Decode(e *ledger.Entry) (*Entry, error) {
	if m, err := scanRecord(e.Bytes); err == nil {
		if out, err := decodeMembers(e, m); err == nil {
			return out, nil
		}
	}
	return decodeFull(e) // the reference, and its error
}

// decodeMembers decodes the members scanRecord found.
func decodeMembers(e *ledger.Entry, m members) (*Entry, error) {
	out := &Entry{Entry: e}
	v := m.occurredAt
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || bytes.ContainsAny(v[1:len(v)-1], "\\\"") {
		return nil, errScan // absent, not a string, or escaped: the full decoder says what
	}
	at := string(v[1 : len(v)-1])
	t, err := ledger.ParseTimestamp(at)
	if err != nil {
		return nil, err
	}
	out.OccurredAt = t
	if m.officers != nil {
		var ok bool
		if out.Officers, ok = scanOfficers(m.officers); !ok {
			if err := jsonv2.Unmarshal(m.officers, &out.Officers, decodeOptions); err != nil {
				return nil, err
			}
		}
	}
	if m.media != nil {
		var ok bool
		if out.Media, ok = scanMedia(m.media); !ok {
			if err := jsonv2.Unmarshal(m.media, &out.Media, decodeOptions); err != nil {
				return nil, err
			}
		}
	}
	out.Data = m.data
	return out, nil
}

// decodeFull decodes the record members with encoding/json/v2.
func decodeFull(e *ledger.Entry) (*Entry, error) {
	var env envelope
	if err := jsonv2.Unmarshal(e.Bytes, &env, decodeOptions); err != nil {
		return nil, fmt.Errorf("projections: entry %d: %v", e.Seq, err)
	}
	t, err := ledger.ParseTimestamp(env.OccurredAt)
	if err != nil {
		return nil, fmt.Errorf("projections: entry %d: occurred_at: %v", e.Seq, err)
	}
	return &Entry{
		Entry:      e,
		OccurredAt: t,
		Officers:   env.Officers,
		Media:      env.Media,
		Data:       json.RawMessage(env.Data),
	}, nil
}

// DecodeData decodes the entry's data object into v, as encoding/json would
// (see decodeOptions), about three times faster, and flat structs of
// strings and integers faster still (data.go). A missing data object
// leaves v unchanged.
func (e *Entry) DecodeData(v any) error {
	if len(e.Data) == 0 || decodeDataFast(e.Data, v) {
		return nil
	}
	return e.decodeDataFull(v)
}

// decodeDataFull is DecodeData with encoding/json/v2 only: the reference.
func (e *Entry) decodeDataFull(v any) error {
	if len(e.Data) == 0 {
		return nil
	}
	if err := jsonv2.Unmarshal(e.Data, v, decodeOptions); err != nil {
		return fmt.Errorf("projections: entry %d (%s): data: %v", e.Seq, e.Type, err)
	}
	return nil
}
