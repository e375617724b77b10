// Package jsonscan finds where JSON values end without decoding them: the
// structural skipping behind the ledger's and the projections' fast
// readers of entries, which decode only the few members they need and
// hash or pass over the rest. It checks only the structure needed to find
// a value's end; callers decode (and so check) the values they use.
package jsonscan

import (
	"bytes"
	"errors"
)

// Errors for input whose structure cannot be followed.
var (
	ErrMissingValue = errors.New("missing value")
	ErrUnterminated = errors.New("unterminated string, object or array")
)

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipValue returns the end of the JSON value starting at b[i].
func SkipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrMissingValue
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := SkipString(b, j)
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
		return 0, ErrUnterminated
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, ErrMissingValue
		}
		return j, nil
	}
}

// SkipString returns the end of the JSON string starting at b[i] (a quote),
// jumping from quote to quote: most of an entry's bytes are in strings.
func SkipString(b []byte, i int) (int, error) {
	j := i + 1
	for {
		k := -1
		for n := j; n < len(b) && n < j+16; n++ { // short strings: no call
			if b[n] == '"' {
				k = n - j
				break
			}
		}
		if k < 0 && len(b) > j+16 {
			if k = bytes.IndexByte(b[j+16:], '"'); k >= 0 {
				k += 16
			}
		}
		if k < 0 {
			return 0, ErrUnterminated
		}
		j += k
		escapes := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}
