package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// keyPublisherCursor holds the JetStream relay's cursor (ledger/outbox):
//
//	'o' "published"                          entries acknowledged by JetStream:8
//
// It is kept in the ledger's Pebble so that one directory holds all the
// state of a ledger process, but it is not part of the log: Verify ignores
// it, and losing an update only makes the relay check again what it had
// already published.
var keyPublisherCursor = []byte("opublished")

// PublisherCursor returns the relay's cursor: how many entries, from seq 0,
// JetStream has acknowledged. It is 0 when none was stored.
func (l *Ledger) PublisherCursor() (uint64, error) {
	if err := l.enter(); err != nil {
		return 0, err
	}
	defer l.leave()
	v, err := l.get(keyPublisherCursor)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: publisher cursor is %d bytes", ErrCorrupt, len(v))
	}
	return be64(v), nil
}

// SetPublisherCursor stores the relay's cursor. It does not fsync: the
// cursor only saves work, and a cursor lost in a crash is found again by
// the relay's reconciliation with the stream. n must not exceed the head.
func (l *Ledger) SetPublisherCursor(n uint64) error {
	if err := l.enterWrite(); err != nil {
		return err
	}
	defer l.leave()
	if h := l.Head().Size; n > h {
		return fmt.Errorf("ledger: publisher cursor %d is beyond the head %d", n, h)
	}
	return l.db.Set(keyPublisherCursor, binary.BigEndian.AppendUint64(nil, n), pebble.NoSync)
}
