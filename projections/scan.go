package projections

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/liuhen/liuhen/internal/jsonscan"
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
	i := jsonscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return m, errScan
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return m, trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return m, errScan
		}
		end, err := jsonscan.SkipValue(b, i)
		if err != nil {
			return m, err
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return m, errScan // an escaped name: leave it to the full decoder
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return m, errScan
		}
		i = jsonscan.SkipSpace(b, i+1)
		end, err = jsonscan.SkipValue(b, i)
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
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) {
			return m, errScan
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return m, trailing(b, i+1)
		default:
			return m, errScan
		}
	}
}

func trailing(b []byte, i int) error {
	if jsonscan.SkipSpace(b, i) != len(b) {
		return errScan
	}
	return nil
}

// scanOfficers and scanMedia read arrays of objects whose members are plain
// strings (no escapes) and canonical integers, as encoding/json/v2 would;
// ok is false for anything else, which is then left to encoding/json/v2.

var officerNames = []string{"id", "cert_no", "name"}

func scanOfficers(b []byte) ([]Officer, bool) {
	var vals [3][]byte
	return scanArray(b, officerNames, vals[:], func(out []Officer) ([]Officer, bool) {
		var o Officer
		var ok1, ok2, ok3 bool
		o.ID, ok1 = optString(vals[0])
		o.CertNo, ok2 = optString(vals[1])
		o.Name, ok3 = optString(vals[2])
		return append(out, o), ok1 && ok2 && ok3
	})
}

var mediaNames = []string{"sha256", "size", "content_type", "started_at", "ended_at"}

func scanMedia(b []byte) ([]Media, bool) {
	var vals [5][]byte
	return scanArray(b, mediaNames, vals[:], func(out []Media) ([]Media, bool) {
		var m Media
		var ok [5]bool
		m.SHA256, ok[0] = optString(vals[0])
		m.Size, ok[1] = optInt(vals[1])
		m.ContentType, ok[2] = optString(vals[2])
		m.StartedAt, ok[3] = optString(vals[3])
		m.EndedAt, ok[4] = optString(vals[4])
		return append(out, m), ok == [5]bool{true, true, true, true, true}
	})
}

// scanArray reads the JSON array b of objects: for each, it fills vals
// with the raw values of the members named names (nil when absent) and
// calls add. A JSON null is a nil slice, as encoding/json/v2 makes it.
func scanArray[T any](b []byte, names []string, vals [][]byte, add func([]T) ([]T, bool)) ([]T, bool) {
	if string(b) == "null" {
		return nil, true
	}
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	out := make([]T, 0, 2)
	i := jsonscan.SkipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		return out, jsonscan.SkipSpace(b, i+1) == len(b)
	}
	for {
		clear(vals)
		end, ok := scanMembers(b, i, names, nil, vals)
		if !ok {
			return nil, false
		}
		if out, ok = add(out); !ok {
			return nil, false
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case ']':
			return out, jsonscan.SkipSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// scanMembers reads the object at b[i] and returns its end. vals[k] gets
// the raw value of the member named names[k]; index, if not nil, maps each
// name to its k. It returns false if b[i] is not an object, a name is
// escaped, one of names appears twice, or a member would match one of
// names case-insensitively (as encoding/json does) without being it.
func scanMembers(b []byte, i int, names []string, index map[string]int, vals [][]byte) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, err := jsonscan.SkipString(b, i)
		if err != nil {
			return 0, false
		}
		k := b[i+1 : end-1]
		if bytes.IndexByte(k, '\\') >= 0 {
			return 0, false
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = jsonscan.SkipSpace(b, i+1)
		if end, err = jsonscan.SkipValue(b, i); err != nil {
			return 0, false
		}
		n, known := -1, false
		if index != nil {
			if j, ok := index[string(k)]; ok {
				n = j
			}
		} else {
			n = slices.Index(names, string(k))
		}
		if n >= 0 {
			if vals[n] != nil {
				return 0, false
			}
			vals[n], known = b[i:end], true
		}
		if !known && foldsTo(k, names...) {
			return 0, false
		}
		i = jsonscan.SkipSpace(b, end)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// optString is plainString for an optional member: absent is "".
func optString(v []byte) (string, bool) {
	if v == nil {
		return "", true
	}
	return plainString(v)
}

// optInt reads an optional member that is a JSON integer in canonical
// form: absent is 0.
func optInt(v []byte) (int64, bool) {
	if v == nil {
		return 0, true
	}
	if len(v) == 0 || len(v) > 18 || (v[0] == '0' && len(v) > 1) || (v[0] == '-' && (len(v) == 1 || v[1] == '0')) {
		return 0, false
	}
	var n int64
	for k, c := range v {
		if k == 0 && c == '-' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		n = 10*n + int64(c-'0')
	}
	if v[0] == '-' {
		n = -n
	}
	return n, true
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
