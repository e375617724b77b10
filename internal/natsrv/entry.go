package natsrv

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/liuhen/liuhen/ledger"
)

// ScanEntry reads the members the ledger defines (docs/format.md) from
// stored entry bytes with a single pass over the top-level object, about
// fifty times faster than ledger.DecodeEntry, which also rebuilds the
// canonical form to compare it. ScanEntry does not check canonical form:
// use it only on bytes read from the ledger (the relay) or whose leaf hash
// is checked against the hash chain (the consumers); for any entry that
// ledger.DecodeEntry accepts, both return the same Entry. Bad input is an
// error, never a panic.
func ScanEntry(b []byte) (*ledger.Entry, error) {
	e := &ledger.Entry{DeviceSeq: -1, Bytes: b}
	var have struct{ v, seq, ra, prev, id, typ bool }
	var hasCaseSeq, hasCasePrev bool
	err := scanObject(b, func(k string, v []byte) error {
		var err error
		switch k {
		case "v":
			var n uint64
			if n, err = scanUint(v); err == nil && n != ledger.FormatVersion {
				err = fmt.Errorf("format version %d", n)
			}
			have.v = true
		case "seq":
			e.Seq, err = scanUint(v)
			have.seq = true
		case "recorded_at":
			var s string
			if s, err = scanString(v); err == nil {
				e.RecordedAt, err = time.Parse(ledger.RecordedAtLayout, s)
			}
			have.ra = true
		case "prev":
			e.Prev, err = scanHash(v)
			have.prev = true
		case "case_seq":
			e.CaseSeq, err = scanUint(v)
			hasCaseSeq = true
		case "case_prev":
			e.CasePrev, err = scanHash(v)
			hasCasePrev = true
		case "id":
			var s string
			if s, err = scanString(v); err == nil {
				e.ID, err = uuid.Parse(s)
			}
			have.id = true
		case "type":
			e.Type, err = scanString(v)
			have.typ = true
		case "case_id":
			var s string
			if s, err = scanString(v); err == nil {
				e.CaseID, err = uuid.Parse(s)
			}
		case "device":
			err = scanObject(v, func(k string, v []byte) error {
				var err error
				switch k {
				case "id":
					e.DeviceID, err = scanString(v)
				case "seq":
					e.DeviceSeq, err = strconv.ParseInt(string(v), 10, 64)
				}
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %v", k, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("natsrv: entry: %v", err)
	}
	switch {
	case !have.v || !have.seq || !have.ra || !have.prev || !have.id || !have.typ:
		return nil, errors.New("natsrv: entry: a required member is missing")
	case (e.CaseID != uuid.Nil) != hasCaseSeq || hasCaseSeq != hasCasePrev || hasCaseSeq && e.CaseSeq == 0:
		return nil, fmt.Errorf("natsrv: entry %d: case_id, case_seq and case_prev do not go together", e.Seq)
	}
	return e, nil
}

// scanObject calls f with each member of the JSON object b, the value as
// its raw bytes.
func scanObject(b []byte, f func(k string, v []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("not an object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		end, err := skipValue(b, i)
		if err != nil || b[i] != '"' {
			return errors.New("bad member name")
		}
		k, err := scanString(b[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("missing ':'")
		}
		i = skipSpace(b, i+1)
		end, err = skipValue(b, i)
		if err != nil {
			return err
		}
		if err := f(k, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errors.New("unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errors.New("missing ',' or '}'")
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errors.New("data after the value")
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
// only the structure needed to find that end; scanString, scanUint and
// json.Valid in the callers check the rest.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
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
		return 0, errors.New("unterminated string")
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
		return 0, errors.New("unterminated object or array")
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, errors.New("missing value")
		}
		return j, nil
	}
}

// scanString returns the JSON string v unquoted.
func scanString(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("not a string")
	}
	plain := true
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

func scanUint(v []byte) (uint64, error) {
	if len(v) == 0 || len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("%q is not a canonical unsigned integer", v)
	}
	return strconv.ParseUint(string(v), 10, 64)
}

func scanHash(v []byte) (ledger.Hash, error) {
	s, err := scanString(v)
	if err != nil {
		return ledger.Hash{}, err
	}
	return ledger.ParseHash(s)
}
