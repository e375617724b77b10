// Package catalog is the event catalogue v1: the list of record types a
// device may submit, and the validator that checks a record's type-specific
// content before the ledger appends it.
//
// The authoritative wire contract is EVENTS.md; docs/events.md documents every
// type, field and legal basis in prose. This package is that document in code.
//
// # What is checked where
//
// The ledger checks the envelope: the record is a JSON object of at most
// 64 KiB, id is a UUID, type is a non-empty string, occurred_at is RFC 3339
// with an offset, case_id (if present) is a UUID, device.id is a non-empty
// string and device.seq (if present) a non-negative integer. Validate checks
// everything else:
//
//   - type is one of [Types];
//   - occurred_at is not more than [Options.FutureTolerance] after now;
//   - case_id is present when the type requires it ([Type.CaseRequired]);
//   - officers and media, when present, are arrays of objects (media items
//     carry a 64-hex sha256);
//   - every field named *_fen anywhere inside data is a JSON integer ≥ 0
//     (the first bad one in document order is reported);
//   - every field of the type's spec ([Type.Fields]): presence when required,
//     JSON type, allowed values, recursively into objects and arrays;
//   - a few cross-field rules (recording.made time order, recording.linked
//     case_id agreement).
//
// Unknown fields are always accepted, at any depth, so that devices can add
// optional fields before the catalogue documents them.
//
// # Input
//
// Validate reads the record in place, as a [jsonview.Value] over its JSON
// bytes: no map per object, no string per value. A number is judged as it
// is written: 1000 is fen, 1e3 and 1000.0 are not. The API passes the
// record's RFC 8785 form (ledger.Record.Canonical), what the ledger stores,
// in which numbers are already in their shortest form (a device's 1e3 is
// stored, and judged, as 1000).
//
// Typical use, after the ledger accepted the envelope:
//
//	v, err := jsonview.Parse(rec.Canonical())
//	if err != nil { … }
//	if verr := catalog.Validate(v, time.Now(), catalog.Options{}); verr != nil {
//		// 422 application/problem+json {"code": verr.Code, "field": verr.Field, …}
//	}
//
// Other packages enumerate the catalogue with [Types] and [Lookup] (each
// [Type] carries its Chinese name, stage, legal basis and field specs) and
// use the exported constants for enumerated values, e.g. [OutcomePenalty],
// [MethodLeft], [CategoryStreetVending].
//
// # Errors
//
// Validate returns nil or the first problem as an *Error, whose Code is one of
// the stable codes below; the HTTP API returns it verbatim in an
// application/problem+json body, so codes are never renamed:
//
//	code                meaning
//	unknown_type        type is not in the catalogue
//	missing_field       a required field is absent (or null)
//	invalid_field       wrong JSON type, empty string, value not in the
//	                    allowed set, bad timestamp or date, bad UUID or hash,
//	                    or a cross-field rule broken
//	case_id_required    the type needs case_id and the record has none
//	money_not_fen       a *_fen field inside data is not a JSON integer ≥ 0
//	occurred_in_future  occurred_at is later than now + FutureTolerance
//
// Error.Field locates the problem as a dotted path with array indexes, for
// example data.intended.fine_fen or data.parties[0].kind.
//
// # Time
//
// Fields of kind [KindTime] (occurred_at, started_at, ended_at, hearing_at,
// device_time, …) are RFC 3339 timestamps with an offset (Z counts). Fields of
// kind [KindDate] (deadline, until) are either a calendar date YYYY-MM-DD, read
// in the agency's time zone, or an RFC 3339 timestamp. Validate never converts
// time zones; period arithmetic belongs to the compliance checks.
//
// Everything in this package is safe for concurrent use: the catalogue is
// immutable, and Types and Lookup return copies.
package catalog

import (
	"fmt"
	"time"
)

// Stable error codes. The HTTP API returns them verbatim.
const (
	CodeUnknownType      = "unknown_type"
	CodeMissingField     = "missing_field"
	CodeInvalidField     = "invalid_field"
	CodeCaseIDRequired   = "case_id_required"
	CodeMoneyNotFen      = "money_not_fen"
	CodeOccurredInFuture = "occurred_in_future"
)

// DefaultFutureTolerance is how far occurred_at may lie ahead of the server
// clock when Options.FutureTolerance is zero. It absorbs device clock drift.
const DefaultFutureTolerance = 10 * time.Minute

// Options tunes Validate. The zero value is ready to use.
type Options struct {
	// FutureTolerance is how far occurred_at may be after now and still
	// be accepted. Zero means DefaultFutureTolerance (10 minutes); a
	// negative value is treated as zero tolerance.
	FutureTolerance time.Duration
}

func (o Options) futureTolerance() time.Duration {
	switch {
	case o.FutureTolerance == 0:
		return DefaultFutureTolerance
	case o.FutureTolerance < 0:
		return 0
	}
	return o.FutureTolerance
}

// Error is a validation failure: one of the Code* constants, the path of the
// offending field, and a human-readable detail (English, not stable).
type Error struct {
	Code   string
	Field  string
	Detail string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("catalog: %s: %s", e.Code, e.Detail)
	}
	return fmt.Sprintf("catalog: %s: %s: %s", e.Code, e.Field, e.Detail)
}
