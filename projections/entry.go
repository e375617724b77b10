package projections

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/liuhen/liuhen/ledger"
)

// An Entry is a verified ledger entry with the record members that the
// projections read decoded once, so that every projection of a store shares
// the work.
type Entry struct {
	*ledger.Entry
	Leaf       ledger.Hash     // leaf hash of the stored bytes (RFC 6962)
	OccurredAt time.Time       // occurred_at, with the device's offset
	Officers   []Officer       // officers, as recorded
	Media      []Media         // media, as recorded
	Data       json.RawMessage // data, the type-specific object; nil when absent
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
	OccurredAt string          `json:"occurred_at"`
	Officers   []Officer       `json:"officers"`
	Media      []Media         `json:"media"`
	Data       json.RawMessage `json:"data"`
}

// Decode decodes the record members of a verified entry. It fails only on
// bytes the ledger would not have stored (the consumer has verified the hash
// and links), so an error here is fatal to the projection.
func Decode(e *ledger.Entry) (*Entry, error) {
	var env envelope
	if err := json.Unmarshal(e.Bytes, &env); err != nil {
		return nil, fmt.Errorf("projections: entry %d: %v", e.Seq, err)
	}
	t, err := ledger.ParseTimestamp(env.OccurredAt)
	if err != nil {
		return nil, fmt.Errorf("projections: entry %d: occurred_at: %v", e.Seq, err)
	}
	return &Entry{
		Entry:      e,
		Leaf:       e.Hash(),
		OccurredAt: t,
		Officers:   env.Officers,
		Media:      env.Media,
		Data:       env.Data,
	}, nil
}

// DecodeData decodes the entry's data object into v. A missing data object
// leaves v unchanged.
func (e *Entry) DecodeData(v any) error {
	if len(e.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("projections: entry %d (%s): data: %v", e.Seq, e.Type, err)
	}
	return nil
}
