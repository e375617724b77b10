package ledger

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned for a seq, id or size the ledger does not hold.
	ErrNotFound = errors.New("ledger: not found")
	// ErrClosed is returned by calls on a closed ledger.
	ErrClosed = errors.New("ledger: closed")
	// ErrCorrupt wraps every integrity failure found by Open or Verify. Use
	// errors.As with *ChainError for the location.
	ErrCorrupt = errors.New("ledger: corrupt")
	// ErrExists is returned by Create when the directory already holds data.
	ErrExists = errors.New("ledger: already exists")
	// ErrReadOnly is returned by appends and other writes on a ledger
	// opened with Config.ReadOnly.
	ErrReadOnly = errors.New("ledger: opened read-only")
	// ErrNotExist is returned by Open when the directory holds no ledger.
	ErrNotExist = errors.New("ledger: no ledger here")
	// ErrConflict is the error of a Conflict result: the id is taken by a
	// record with different content.
	ErrConflict = errors.New("ledger: id already used with different content")
	// ErrKeyPermissions is returned when a signing key file is readable by
	// anyone but its owner.
	ErrKeyPermissions = errors.New("ledger: signing key file is readable by group or others")
)

// A ChainError locates an integrity failure: the entry (or tree node) where
// what was found differs from what the rest of the ledger implies.
type ChainError struct {
	Seq  uint64 // the entry at fault; for a tree node, the last entry it covers
	Case string // the case id, when the failure is in a case chain
	What string // what was checked: "leaf hash", "prev", "case_prev", "seq", "tree hash", "missing entry", ...
	Want string // what the rest of the ledger implies
	Got  string // what is stored
}

func (e *ChainError) Error() string {
	loc := fmt.Sprintf("seq %d", e.Seq)
	if e.Case != "" {
		loc += " (case " + e.Case + ")"
	}
	if e.Want == "" && e.Got == "" {
		return fmt.Sprintf("ledger: corrupt at %s: %s", loc, e.What)
	}
	return fmt.Sprintf("ledger: corrupt at %s: %s: want %s, got %s", loc, e.What, e.Want, e.Got)
}

// Explain returns What with, for the chain links, what their failure means
// to a reader of a report: which change or loss each one reveals.
func (e *ChainError) Explain() string {
	switch e.What {
	case "prev":
		return "prev: the entry before it was changed, or one is missing"
	case "case_prev":
		return "case_prev: the case's previous entry was changed, or one is missing"
	case "seq":
		return "seq: an entry is missing, repeated or out of order"
	}
	return e.What
}

// Unwrap makes errors.Is(err, ErrCorrupt) true for every ChainError.
func (e *ChainError) Unwrap() error { return ErrCorrupt }

// FatalError is returned by Append after the sequencer has stopped because a
// write or an fsync failed. The ledger accepts nothing more until it is
// closed and reopened; no entry is acknowledged that was not synced.
type FatalError struct{ Err error }

func (e *FatalError) Error() string {
	return "ledger: stopped after a fatal storage error: " + e.Err.Error()
}
func (e *FatalError) Unwrap() error { return e.Err }
