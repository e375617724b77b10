package ledger

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/liuhen/liuhen/internal/jsonscan"
)

// decodeFields decodes canonical JSON (valid by construction) into the
// shapes encoding/json produces with UseNumber: map[string]any, []any,
// string, json.Number, bool and nil. The input is a record's RFC 8785 form,
// which jsontext has produced and so validated: no white space, no
// duplicate names, strings escaped only where they must be. So values are
// found with jsonscan and sliced, and only strings that hold an escape go
// through jsontext.AppendUnquote; member names, which repeat from record to
// record, are interned. FuzzParseRecord holds the result to encoding/json's.
func decodeFields(c []byte) (map[string]any, error) {
	v, end, err := decodeCanonical(c, 0)
	if err != nil {
		return nil, err
	}
	if end != len(c) {
		return nil, errFields
	}
	m, _ := v.(map[string]any)
	return m, nil
}

var errFields = errors.New("ledger: record is not canonical JSON")

// memberNames interns the member names of records.
var memberNames = &interner{limit: 4096}

// decodeCanonical decodes the value at b[i] and returns where it ends.
func decodeCanonical(b []byte, i int) (any, int, error) {
	if i >= len(b) {
		return nil, 0, errFields
	}
	switch b[i] {
	case '{':
		m := make(map[string]any)
		i++
		if i < len(b) && b[i] == '}' {
			return m, i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, 0, errFields
			}
			k, j, err := canonicalString(b, i, memberNames)
			if err != nil {
				return nil, 0, err
			}
			if j >= len(b) || b[j] != ':' {
				return nil, 0, errFields
			}
			v, j, err := decodeCanonical(b, j+1)
			if err != nil {
				return nil, 0, err
			}
			m[k] = v
			if j < len(b) && b[j] == ',' {
				i = j + 1
				continue
			}
			if j < len(b) && b[j] == '}' {
				return m, j + 1, nil
			}
			return nil, 0, errFields
		}
	case '[':
		a := []any{}
		i++
		if i < len(b) && b[i] == ']' {
			return a, i + 1, nil
		}
		for {
			v, j, err := decodeCanonical(b, i)
			if err != nil {
				return nil, 0, err
			}
			a = append(a, v)
			if j < len(b) && b[j] == ',' {
				i = j + 1
				continue
			}
			if j < len(b) && b[j] == ']' {
				return a, j + 1, nil
			}
			return nil, 0, errFields
		}
	case '"':
		return canonicalString(b, i, nil)
	case 't':
		return literal(b, i, "true", true)
	case 'f':
		return literal(b, i, "false", false)
	case 'n':
		return literal(b, i, "null", nil)
	}
	j, err := jsonscan.SkipValue(b, i)
	if err != nil {
		return nil, 0, err
	}
	return json.Number(b[i:j]), j, nil
}

func literal(b []byte, i int, word string, v any) (any, int, error) {
	if !bytes.HasPrefix(b[i:], []byte(word)) {
		return nil, 0, errFields
	}
	return v, i + len(word), nil
}

// canonicalString decodes the string at b[i], taking it from in when it
// has no escape and in is not nil.
func canonicalString(b []byte, i int, in *interner) (string, int, error) {
	j, err := jsonscan.SkipString(b, i)
	if err != nil {
		return "", 0, err
	}
	s := b[i+1 : j-1]
	if bytes.IndexByte(s, '\\') < 0 {
		if in != nil {
			return in.get(s), j, nil
		}
		return string(s), j, nil
	}
	u, err := jsontext.AppendUnquote(nil, b[i:j])
	if err != nil {
		return "", 0, err
	}
	return string(u), j, nil
}
