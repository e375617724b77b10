package catalog

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/liuhen/liuhen/internal/jsonview"
)

// Validate checks rec, a record whose envelope the ledger has already
// checked, against the catalogue and returns nil or the first problem
// found; now is the server clock.
//
// Checks run in this order, so that the first error is the most useful one:
// type, occurred_at, case_id, officers and media, money (*_fen anywhere in
// data, in document order), then the type's fields in spec order, then
// cross-field rules.
func Validate(rec jsonview.Value, now time.Time, opts Options) *Error {
	tb, ok := rec.Member("type").Bytes()
	if !ok {
		return &Error{CodeInvalidField, "type", "must be a string"}
	}
	i, ok := byName[string(tb)]
	if !ok {
		return &Error{CodeUnknownType, "type", fmt.Sprintf("%q is not in the catalogue", tb)}
	}
	t := &catalogue[i]

	if err := checkOccurredAt(rec, now, opts.futureTolerance()); err != nil {
		return err
	}
	if err := checkCaseID(rec, t.CaseRequired); err != nil {
		return err
	}
	if err := checkEnvelopeExtras(rec, t.MediaItems); err != nil {
		return err
	}

	data := rec.Member("data")
	switch data.Kind() {
	case jsonview.Missing, jsonview.Null:
		data = jsonview.Value{}
		if hasRequired(t) {
			return &Error{CodeMissingField, "data", "this type needs a data object"}
		}
	case jsonview.Object:
	default:
		return &Error{CodeInvalidField, "data", "must be an object"}
	}

	if err := checkMoney(data); err != nil {
		return err.under("data")
	}
	for _, f := range t.Fields {
		if err := checkMember(data, f); err != nil {
			return err.under("data")
		}
	}
	if len(t.AnyOf) > 0 && !anyPresent(data, t.AnyOf) {
		return &Error{CodeMissingField, "data." + t.AnyOf[0],
			"one of " + strings.Join(t.AnyOf, ", ") + " is required"}
	}
	if t.check != nil {
		return t.check(rec, data)
	}
	return nil
}

func hasRequired(t *Type) bool {
	for _, f := range t.Fields {
		if f.Required {
			return true
		}
	}
	return len(t.AnyOf) > 0
}

func anyPresent(obj jsonview.Value, names []string) bool {
	for _, n := range names {
		if obj.Member(n).Present() {
			return true
		}
	}
	return false
}

func checkOccurredAt(rec jsonview.Value, now time.Time, tol time.Duration) *Error {
	v := rec.Member("occurred_at")
	if !v.Present() {
		return &Error{CodeMissingField, "occurred_at", "is required"}
	}
	at, err := parseTime(v)
	if err != nil {
		return &Error{CodeInvalidField, "occurred_at", err.Error()}
	}
	if at.Sub(now) > tol {
		return &Error{CodeOccurredInFuture, "occurred_at",
			fmt.Sprintf("%s is more than %s after the server clock %s",
				at.Format(time.RFC3339), tol, now.Format(time.RFC3339))}
	}
	return nil
}

func checkCaseID(rec jsonview.Value, required bool) *Error {
	v := rec.Member("case_id")
	if !v.Present() {
		if required {
			return &Error{CodeCaseIDRequired, "case_id", "this type must name its case"}
		}
		return nil
	}
	s, ok := v.Bytes()
	if !ok || !isUUID(s) {
		return &Error{CodeInvalidField, "case_id", "must be a UUID string"}
	}
	return nil
}

// checkEnvelopeExtras checks the parts of the envelope the ledger leaves
// alone: officers and media.
func checkEnvelopeExtras(rec jsonview.Value, mediaItems int) *Error {
	if err := checkMember(rec, officersField); err != nil {
		return err
	}
	return checkMember(rec, Field{Name: "media", Kind: KindArray,
		Required: mediaItems > 0, MinItems: mediaItems, Elem: &mediaElem})
}

// The envelope's officers and media, as fields.
var (
	officersField = optional(list("officers", 0, objectElem(opt("id", KindString), opt("cert_no", KindString), opt("name", KindString))))
	mediaElem     = objectElem(req("sha256", KindSHA256), opt("size", KindInt),
		opt("content_type", KindString), opt("started_at", KindTime), opt("ended_at", KindTime))
)

// The checks below return errors whose Field is relative to the value
// they were given ("" for the value itself); each level puts its own
// member name or element index in front on the way out, so that checking
// a record that passes builds no paths.

// under puts the member name in front of e's field.
func (e *Error) under(name string) *Error { return e.prefix(name) }

// at puts the element index i in front of e's field.
func (e *Error) at(i int) *Error { return e.prefix("[" + strconv.Itoa(i) + "]") }

// prefix puts the path step seg (a name or an [index]) in front of e's
// field.
func (e *Error) prefix(seg string) *Error {
	switch {
	case e.Field == "":
		e.Field = seg
	case e.Field[0] == '[':
		e.Field = seg + e.Field
	default:
		e.Field = seg + "." + e.Field
	}
	return e
}

// checkMember checks the member f.Name of obj.
func checkMember(obj jsonview.Value, f Field) *Error {
	v := obj.Member(f.Name)
	if !v.Present() {
		if f.Required {
			return &Error{CodeMissingField, f.Name, "is required"}
		}
		return nil
	}
	if err := checkValue(v, f); err != nil {
		return err.under(f.Name)
	}
	return nil
}

// checkValue checks that v has the shape f describes.
func checkValue(v jsonview.Value, f Field) *Error {
	bad := func(format string, args ...any) *Error {
		return &Error{CodeInvalidField, "", fmt.Sprintf(format, args...)}
	}
	switch f.Kind {
	case KindString:
		if s, ok := v.Bytes(); !ok || len(bytes.TrimSpace(s)) == 0 {
			return bad("must be a non-empty string")
		}
	case KindBool:
		if _, ok := v.Bool(); !ok {
			return bad("must be true or false")
		}
	case KindInt:
		n, ok := v.Int()
		if !ok {
			return bad("must be a JSON integer")
		}
		if n < f.Min {
			return bad("must be at least %d", f.Min)
		}
	case KindFen:
		if n, ok := v.Int(); !ok || n < 0 {
			return &Error{CodeMoneyNotFen, "", "must be a non-negative integer number of fen"}
		}
	case KindTime:
		if _, err := parseTime(v); err != nil {
			return bad("%s", err)
		}
	case KindDate:
		if _, err := parseDate(v); err != nil {
			return bad("%s", err)
		}
	case KindEnum:
		s, _ := v.Bytes()
		for _, ev := range f.Values {
			if string(s) == ev.Code {
				return nil
			}
		}
		return bad("must be one of %s", codes(f.Values))
	case KindUUID:
		if s, ok := v.Bytes(); !ok || !isUUID(s) {
			return bad("must be a UUID string")
		}
	case KindSHA256:
		if s, ok := v.Bytes(); !ok || !isSHA256(s) {
			return bad("must be 64 lowercase hex digits")
		}
	case KindStringOrObject:
		switch v.Kind() {
		case jsonview.Object:
		case jsonview.String:
			if s, _ := v.Bytes(); len(bytes.TrimSpace(s)) == 0 {
				return bad("must be a non-empty string or an object")
			}
		default:
			return bad("must be a non-empty string or an object")
		}
	case KindObject:
		if v.Kind() != jsonview.Object {
			return bad("must be an object")
		}
		for _, sub := range f.Fields {
			if err := checkMember(v, sub); err != nil {
				return err
			}
		}
	case KindArray:
		if v.Kind() != jsonview.Array {
			return bad("must be an array")
		}
		if v.Len() < f.MinItems {
			return bad("must have at least %d element(s)", f.MinItems)
		}
		i := 0
		for e := v.First(); e.Kind() != jsonview.Missing; e = e.Next() {
			if e.Kind() == jsonview.Null {
				return (&Error{CodeInvalidField, "", "must not be null"}).at(i)
			}
			if err := checkValue(e, *f.Elem); err != nil {
				return err.at(i)
			}
			i++
		}
	default:
		return bad("unknown kind %d", f.Kind)
	}
	return nil
}

func codes(vs []Value) string {
	cs := make([]string, len(vs))
	for i, v := range vs {
		cs[i] = v.Code
	}
	return strings.Join(cs, ", ")
}

// checkMoney walks v and checks every member named *_fen, in document
// order.
func checkMoney(v jsonview.Value) *Error {
	obj := v.Kind() == jsonview.Object
	i := 0
	for e := v.First(); e.Kind() != jsonview.Missing; e = e.Next() {
		var err *Error
		name := e.Name()
		if obj && bytes.HasSuffix(name, []byte("_fen")) {
			if n, ok := e.Int(); !ok || n < 0 {
				err = &Error{CodeMoneyNotFen, "", "must be a non-negative integer number of fen"}
			}
		} else {
			err = checkMoney(e)
		}
		if err != nil {
			if obj {
				return err.under(string(name))
			}
			return err.at(i)
		}
		i++
	}
	return nil
}

// parseTime accepts an RFC 3339 timestamp with an offset.
func parseTime(v jsonview.Value) (time.Time, error) {
	s, ok := v.Str()
	if !ok {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 timestamp string")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 timestamp with offset, got %q", s)
	}
	return t, nil
}

// parseDate accepts a calendar date YYYY-MM-DD or an RFC 3339 timestamp.
// A bare date is returned as midnight UTC; callers that need the agency's
// zone reinterpret it.
func parseDate(v jsonview.Value) (time.Time, error) {
	s, ok := v.Str()
	if !ok {
		return time.Time{}, fmt.Errorf("must be a date string")
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("must be YYYY-MM-DD or an RFC 3339 timestamp, got %q", s)
}

func isUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isSHA256(s []byte) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// checkRecording: started_at ≤ ended_at; each interruption has from ≤ to and
// lies inside the recording. Field shapes were checked before.
func checkRecording(_, data jsonview.Value) *Error {
	start, _ := parseTime(data.Member("started_at"))
	end, _ := parseTime(data.Member("ended_at"))
	if end.Before(start) {
		return &Error{CodeInvalidField, "data.ended_at", "must not be before started_at"}
	}
	i := 0
	for in := data.Member("interruptions").First(); in.Kind() != jsonview.Missing; in = in.Next() {
		from, _ := parseTime(in.Member("from"))
		to, _ := parseTime(in.Member("to"))
		p := fmt.Sprintf("data.interruptions[%d]", i)
		i++
		switch {
		case to.Before(from):
			return &Error{CodeInvalidField, p + ".to", "must not be before from"}
		case from.Before(start):
			return &Error{CodeInvalidField, p + ".from", "must not be before started_at"}
		case to.After(end):
			return &Error{CodeInvalidField, p + ".to", "must not be after ended_at"}
		}
	}
	return nil
}

// checkLinked: data.case_id names the same case as the envelope, so the
// link is stored in the chain of the case it links to.
func checkLinked(rec, data jsonview.Value) *Error {
	env, _ := rec.Member("case_id").Bytes()
	linked, _ := data.Member("case_id").Bytes()
	if !bytes.EqualFold(env, linked) {
		return &Error{CodeInvalidField, "data.case_id", "must equal the record's case_id"}
	}
	return nil
}
