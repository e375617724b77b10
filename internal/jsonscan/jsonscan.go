// Package jsonscan finds where JSON values end without decoding them: the
// structural skipping behind the ledger's and the projections' fast
// readers of entries, which decode only the few members they need and
// hash or pass over the rest. It checks only the structure needed to find
// a value's end; callers decode (and so check) the values they use.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
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
		k := indexQuote(b, j)
		if k < 0 {
			return 0, ErrUnterminated
		}
		j = k
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

// indexQuote returns the index of the first '"' in b at or after j, or -1.
// Most strings in an entry are short: the first 16 bytes are looked at
// eight at a time (a word with a zero byte where b has a quote), longer
// ones with bytes.IndexByte.
func indexQuote(b []byte, j int) int {
	const ones, highs, quotes = 0x0101010101010101, 0x8080808080808080, 0x2222222222222222
	n := j
	for end := min(j+16, len(b)); n+8 <= end; n += 8 {
		x := binary.LittleEndian.Uint64(b[n:]) ^ quotes
		// x has a zero byte where b has a quote; the lowest byte flagged
		// here is the first such exactly (higher ones may be borrows).
		if t := (x - ones) &^ x & highs; t != 0 {
			return n + bits.TrailingZeros64(t)/8
		}
	}
	if k := bytes.IndexByte(b[n:], '"'); k >= 0 {
		return n + k
	}
	return -1
}
