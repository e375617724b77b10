package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Validate checks rec against the catalogue and returns nil or the first
// problem found. rec is a record whose envelope the ledger has already
// checked, decoded with json.Decoder.UseNumber; now is the server clock.
//
// Checks run in this order, so that the first error is the most useful one:
// type, occurred_at, case_id, officers and media, money (*_fen anywhere in
// data), then the type's fields in spec order, then cross-field rules.
func Validate(rec map[string]any, now time.Time, opts Options) *Error {
	name, ok := rec["type"].(string)
	if !ok {
		return &Error{CodeInvalidField, "type", "must be a string"}
	}
	i, ok := byName[name]
	if !ok {
		return &Error{CodeUnknownType, "type", fmt.Sprintf("%q is not in the catalogue", name)}
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

	var data map[string]any
	switch d, present := rec["data"]; {
	case !present || d == nil:
		if hasRequired(t) {
			return &Error{CodeMissingField, "data", "this type needs a data object"}
		}
	default:
		if data, ok = d.(map[string]any); !ok {
			return &Error{CodeInvalidField, "data", "must be an object"}
		}
	}

	dataPath := &path{name: "data"}
	if err := checkMoney(dataPath, data); err != nil {
		return err
	}
	for _, f := range t.Fields {
		if err := checkMember(data, dataPath, f); err != nil {
			return err
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

func anyPresent(obj map[string]any, names []string) bool {
	for _, n := range names {
		if v, ok := obj[n]; ok && v != nil {
			return true
		}
	}
	return false
}

func checkOccurredAt(rec map[string]any, now time.Time, tol time.Duration) *Error {
	v, ok := rec["occurred_at"]
	if !ok || v == nil {
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

func checkCaseID(rec map[string]any, required bool) *Error {
	v, ok := rec["case_id"]
	if !ok || v == nil {
		if required {
			return &Error{CodeCaseIDRequired, "case_id", "this type must name its case"}
		}
		return nil
	}
	s, ok := v.(string)
	if !ok || !isUUID(s) {
		return &Error{CodeInvalidField, "case_id", "must be a UUID string"}
	}
	return nil
}

// checkEnvelopeExtras checks the parts of the envelope the ledger leaves
// alone: officers and media.
func checkEnvelopeExtras(rec map[string]any, mediaItems int) *Error {
	if err := checkMember(rec, nil, officersField); err != nil {
		return err
	}
	return checkMember(rec, nil, Field{Name: "media", Kind: KindArray,
		Required: mediaItems > 0, MinItems: mediaItems, Elem: &mediaElem})
}

// The envelope's officers and media, as fields.
var (
	officersField = optional(list("officers", 0, objectElem(opt("id", KindString), opt("cert_no", KindString), opt("name", KindString))))
	mediaElem     = objectElem(req("sha256", KindSHA256), opt("size", KindInt),
		opt("content_type", KindString), opt("started_at", KindTime), opt("ended_at", KindTime))
)

// path is where a value lies in a record: the member name of parent, or
// (elem) its element index. It is rendered only for an error, so that
// checking a record that passes builds no strings.
type path struct {
	parent *path
	name   string
	index  int
	elem   bool
}

func (p *path) String() string {
	if p == nil {
		return ""
	}
	if p.elem {
		return fmt.Sprintf("%s[%d]", p.parent, p.index)
	}
	return join(p.parent.String(), p.name)
}

// checkMember checks the member f.Name of obj, which lives at parent.
func checkMember(obj map[string]any, parent *path, f Field) *Error {
	at := &path{parent: parent, name: f.Name}
	v, ok := obj[f.Name]
	if !ok || v == nil {
		if f.Required {
			return &Error{CodeMissingField, at.String(), "is required"}
		}
		return nil
	}
	return checkValue(v, at, f)
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// checkValue checks that v, found at at, has the shape f describes.
func checkValue(v any, at *path, f Field) *Error {
	bad := func(format string, args ...any) *Error {
		return &Error{CodeInvalidField, at.String(), fmt.Sprintf(format, args...)}
	}
	switch f.Kind {
	case KindString:
		if s, ok := v.(string); !ok || strings.TrimSpace(s) == "" {
			return bad("must be a non-empty string")
		}
	case KindBool:
		if _, ok := v.(bool); !ok {
			return bad("must be true or false")
		}
	case KindInt:
		n, ok := integer(v)
		if !ok {
			return bad("must be a JSON integer")
		}
		if n < f.Min {
			return bad("must be at least %d", f.Min)
		}
	case KindFen:
		if n, ok := integer(v); !ok || n < 0 {
			return &Error{CodeMoneyNotFen, at.String(), "must be a non-negative integer number of fen"}
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
		s, _ := v.(string)
		for _, ev := range f.Values {
			if s == ev.Code {
				return nil
			}
		}
		return bad("must be one of %s", codes(f.Values))
	case KindUUID:
		if s, ok := v.(string); !ok || !isUUID(s) {
			return bad("must be a UUID string")
		}
	case KindSHA256:
		if s, ok := v.(string); !ok || !isSHA256(s) {
			return bad("must be 64 lowercase hex digits")
		}
	case KindStringOrObject:
		switch x := v.(type) {
		case map[string]any:
		case string:
			if strings.TrimSpace(x) == "" {
				return bad("must be a non-empty string or an object")
			}
		default:
			return bad("must be a non-empty string or an object")
		}
	case KindObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return bad("must be an object")
		}
		for _, sub := range f.Fields {
			if err := checkMember(obj, at, sub); err != nil {
				return err
			}
		}
	case KindArray:
		arr, ok := v.([]any)
		if !ok {
			return bad("must be an array")
		}
		if len(arr) < f.MinItems {
			return bad("must have at least %d element(s)", f.MinItems)
		}
		for i, e := range arr {
			ep := &path{parent: at, index: i, elem: true}
			if e == nil {
				return &Error{CodeInvalidField, ep.String(), "must not be null"}
			}
			if err := checkValue(e, ep, *f.Elem); err != nil {
				return err
			}
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

// checkMoney walks v (found at at) and checks every member named *_fen.
func checkMoney(at *path, v any) *Error {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := &path{parent: at, name: k}
			if strings.HasSuffix(k, "_fen") {
				if n, ok := integer(e); !ok || n < 0 {
					return &Error{CodeMoneyNotFen, p.String(), "must be a non-negative integer number of fen"}
				}
				continue
			}
			if err := checkMoney(p, e); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkMoney(&path{parent: at, index: i, elem: true}, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// integer reports v as an int64 if it is a JSON integer: a json.Number
// written without fraction or exponent, or (for records built in Go) an int,
// int64 or integral float64.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// parseTime accepts an RFC 3339 timestamp with an offset.
func parseTime(v any) (time.Time, error) {
	s, ok := v.(string)
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
func parseDate(v any) (time.Time, error) {
	s, ok := v.(string)
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

func isUUID(s string) bool {
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

func isSHA256(s string) bool {
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
func checkRecording(_, data map[string]any) *Error {
	start, _ := parseTime(data["started_at"])
	end, _ := parseTime(data["ended_at"])
	if end.Before(start) {
		return &Error{CodeInvalidField, "data.ended_at", "must not be before started_at"}
	}
	ints, _ := data["interruptions"].([]any)
	for i, e := range ints {
		in := e.(map[string]any)
		from, _ := parseTime(in["from"])
		to, _ := parseTime(in["to"])
		p := fmt.Sprintf("data.interruptions[%d]", i)
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
func checkLinked(rec, data map[string]any) *Error {
	env, _ := rec["case_id"].(string)
	linked, _ := data["case_id"].(string)
	if !strings.EqualFold(env, linked) {
		return &Error{CodeInvalidField, "data.case_id", "must equal the record's case_id"}
	}
	return nil
}
