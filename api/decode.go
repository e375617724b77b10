package api

import (
	"bytes"
	"fmt"
	"github.com/liuhen/liuhen/internal/jsonscan"
	"mime"
	"strconv"
)

// Request body formats of POST /v1/events.
const (
	formatSingle = iota // one JSON object
	formatArray         // a JSON array of objects
	formatNDJSON        // one object per line (application/x-ndjson)
)

// decodeRequest splits the body of POST /v1/events into raw records. It
// checks only the framing: a request-level problem (not JSON at all, an
// unterminated array, too many records, a Content-Type we do not take) is
// returned as a *Problem; a bad record inside good framing is returned as
// its raw bytes for ParseRecord to reject, so that it fails alone.
//
// Framing by Content-Type: application/x-ndjson (or application/jsonl) is
// NDJSON; application/json, or none, is a single object or an array,
// told apart by the first byte that is not white space.
func decodeRequest(contentType string, body []byte, maxRecords int) ([][]byte, int, error) {
	ndjson := false
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, 0, problem(CodeUnsupportedMedia, "unparsable Content-Type")
		}
		switch mt {
		case "application/json":
		case "application/x-ndjson", "application/jsonl", "application/ndjson":
			ndjson = true
		default:
			return nil, 0, problem(CodeUnsupportedMedia, "POST /v1/events takes application/json or application/x-ndjson, not "+mt)
		}
	}
	if ndjson {
		recs, err := splitNDJSON(body, maxRecords)
		return recs, formatNDJSON, err
	}
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return nil, 0, problem(CodeMalformedJSON, "empty body")
	}
	switch b[0] {
	case '{':
		return [][]byte{b}, formatSingle, nil
	case '[':
		recs, err := splitArray(b, maxRecords)
		return recs, formatArray, err
	}
	return nil, 0, problem(CodeMalformedJSON, "the body is not a JSON object, array or NDJSON")
}

func splitNDJSON(body []byte, maxRecords int) ([][]byte, error) {
	var recs [][]byte
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(recs) == maxRecords {
			return nil, tooManyRecords(maxRecords)
		}
		recs = append(recs, line)
	}
	if len(recs) == 0 {
		return nil, problem(CodeMalformedJSON, "no records in the NDJSON body")
	}
	return recs, nil
}

// splitArray returns the bytes of each element of a JSON array, found by
// a scan that tracks only strings and nesting: the elements are parsed
// afterwards, one by one, so that a malformed element fails alone. The
// framing itself (brackets, commas, strings) must be intact, or the request
// fails as a whole, since no record boundary can be trusted after a break.
func splitArray(b []byte, maxRecords int) ([][]byte, error) {
	var recs [][]byte
	depth := 0
	start := -1 // start of the current element, -1 between elements
	closed := false
	for i := 1; i < len(b); i++ { // b[0] is '['
		c := b[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			// Most of a record's bytes are in strings: jump to the end.
			end, err := jsonscan.SkipString(b, i)
			if err != nil {
				return nil, problem(CodeMalformedJSON, "the array is not closed")
			}
			if start < 0 {
				start = i
			}
			i = end - 1
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth > 0 {
				depth--
				continue
			}
			if c == '}' {
				return nil, problem(CodeMalformedJSON, "unbalanced '}' in the array")
			}
			closed = true
		case ',':
			if depth > 0 {
				continue
			}
			if start < 0 {
				return nil, problem(CodeMalformedJSON, fmt.Sprintf("empty element %d in the array", len(recs)))
			}
		}
		if depth == 0 && (c == ',' || closed) {
			if start >= 0 {
				if len(recs) == maxRecords {
					return nil, tooManyRecords(maxRecords)
				}
				recs = append(recs, bytes.TrimRight(b[start:i], " \t\r\n"))
			} else if closed && len(recs) > 0 {
				return nil, problem(CodeMalformedJSON, "a ',' before the closing ']'")
			}
			start = -1
			if closed {
				if rest := bytes.TrimSpace(b[i+1:]); len(rest) > 0 {
					return nil, problem(CodeMalformedJSON, "data after the closing ']'")
				}
				break
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if !closed {
		return nil, problem(CodeMalformedJSON, "the array is not closed")
	}
	if len(recs) == 0 {
		return nil, problem(CodeMalformedJSON, "the array holds no records")
	}
	return recs, nil
}

func tooManyRecords(max int) *Problem {
	return problem(CodeTooLarge, "a request holds at most "+strconv.Itoa(max)+" records")
}
