package report

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// Totals are a year's figures by flat name ("decisions.penalty",
// "by_category.dust.cases_opened", …).
type Totals struct {
	m map[string]int64
}

func (t *Totals) add(k string, v int64) {
	if t.m == nil {
		t.m = map[string]int64{}
	}
	t.m[k] += v
}

// Get returns the figure named k.
func (t *Totals) Get(k string) int64 { return t.m[k] }

// encodeTotals writes the figures sorted by name: uvarint count, then for
// each a uvarint name length, the name and a varint value. Sorted, so that
// equal totals are equal bytes.
func encodeTotals(t *Totals) ([]byte, error) {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, t.m[k])
	}
	return b, nil
}

var errTotals = errors.New("report: malformed totals")

func decodeTotals(b []byte) (*Totals, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errTotals
	}
	b = b[k:]
	t := &Totals{m: make(map[string]int64, n)}
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, errTotals
		}
		name := strings.Clone(string(b[k : k+int(l)]))
		b = b[k+int(l):]
		v, k2 := binary.Varint(b)
		if k2 <= 0 {
			return nil, errTotals
		}
		b = b[k2:]
		t.m[name] = v
	}
	if len(b) != 0 {
		return nil, errTotals
	}
	return t, nil
}
