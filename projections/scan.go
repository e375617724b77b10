package projections

import (
	"bytes"
	"errors"
	"strings"
	"unicode/utf8"
)

// The record members Decode reads are found by scanRecord, a single pass
// over the entry's top-level object that skips everything else without
// decoding it (encoding/json/v2 costs three to four times as much, most of
// it in members the projections never read). Only the members' own values
// are then decoded. Stored entries are canonical JSON (RFC 8785), which is
// all the scanner needs to handle: anything unusual (an escaped member
// name, a member twice, bytes after the object) makes it give up, and
// Decode falls back to encoding/json/v2, whose answer is the reference
// (FuzzDecode holds the two together).

// members are the raw values of the record members Decode reads; nil when
// absent.
type members struct {
	occurredAt, officers, media, data []byte
}

var errScan = errors.New("projections: not a plain JSON object")

// scanRecord finds the members of the JSON object b.
func scanRecord(b []byte) (members, error) {
	var m members
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, errScan
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return m, errScan
		}
		end, err := skipValue(b, i)
		if err != nil {
			return m, err
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return m, errScan // an escaped name: leave it to the full decoder
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return m, errScan
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i)
		if err != nil {
			return m, err
		}
		var dst *[]byte
		switch string(name) {
		case "occurred_at":
			dst = &m.occurredAt
		case "officers":
			dst = &m.officers
		case "media":
			dst = &m.media
		case "data":
			dst = &m.data
		default:
			if foldsTo(name, "occurred_at", "officers", "media", "data") {
				return m, errScan // encoding/json would take it for one of them
			}
		}
		if dst != nil {
			if *dst != nil {
				return m, errScan // twice
			}
			*dst = b[i:end]
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return m, errScan
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return m, trailing(b, i+1)
		default:
			return m, errScan
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errScan
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i]. It checks
// only the structure it needs to find that end; the values Decode uses are
// then decoded (and so checked) by encoding/json/v2.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, errScan
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errScan
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errScan
		}
		return j, nil
	}
}

// scanOfficers reads an officers array whose members are plain strings
// (no escapes), as encoding/json/v2 would; ok is false for anything else,
// which is then left to encoding/json/v2.
func scanOfficers(b []byte) (out []Officer, ok bool) {
	if string(b) == "null" {
		return nil, true
	}
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	i := skipSpace(b, 1)
	out = []Officer{}
	if i < len(b) && b[i] == ']' {
		return out, skipSpace(b, i+1) == len(b)
	}
	for {
		end, err := skipValue(b, i)
		if err != nil || b[i] != '{' {
			return nil, false
		}
		var o Officer
		if !scanPlainObject(b[i:end], func(k string, v []byte) bool {
			var dst *string
			switch k {
			case "id":
				dst = &o.ID
			case "cert_no":
				dst = &o.CertNo
			case "name":
				dst = &o.Name
			default:
				return !foldsTo([]byte(k), "id", "cert_no", "name")
			}
			s, ok := plainString(v)
			*dst = s
			return ok
		}) {
			return nil, false
		}
		out = append(out, o)
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return out, skipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// scanPlainObject calls f with each member of the object b whose name has
// no escapes; it returns false if b is not such an object, a name appears
// twice, or f returns false.
func scanPlainObject(b []byte, f func(k string, v []byte) bool) bool {
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	var seen []string
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, err := skipValue(b, i)
		if err != nil {
			return false
		}
		k, ok := plainString(b[i:end])
		if !ok {
			return false
		}
		for _, s := range seen {
			if s == k {
				return false
			}
		}
		seen = append(seen, k)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i)
		if err != nil || !f(k, b[i:end]) {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// plainString returns the JSON string v, if it has no escapes and only
// valid UTF-8 (what encoding/json/v2 would return unchanged).
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	s := v[1 : len(v)-1]
	for _, c := range s {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(s) {
		return "", false
	}
	return string(s), true
}

// foldsTo reports whether name equals one of names ignoring case, as
// encoding/json matches member names (decodeOptions).
func foldsTo(name []byte, names ...string) bool {
	for _, n := range names {
		if len(name) == len(n) && strings.EqualFold(string(name), n) {
			return true
		}
	}
	return false
}
