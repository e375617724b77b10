package report

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// Totals are a year's figures by flat name ("decisions.penalty",
// "by_category.dust.cases_opened", …), kept sorted by name so that they
// encode in one pass: a snapshot of them is written for every entry that
// changes a figure.
type Totals struct {
	names []string // sorted
	vals  []int64  // vals[i] is the figure names[i]
}

func (t *Totals) add(k string, v int64) {
	i, ok := slices.BinarySearch(t.names, k)
	if !ok {
		t.names = slices.Insert(t.names, i, k)
		t.vals = slices.Insert(t.vals, i, 0)
	}
	t.vals[i] += v
}

// Get returns the figure named k.
func (t *Totals) Get(k string) int64 {
	if i, ok := slices.BinarySearch(t.names, k); ok {
		return t.vals[i]
	}
	return 0
}

// encodeTotals writes the figures sorted by name: uvarint count, then for
// each a uvarint name length, the name and a varint value. Sorted, so that
// equal totals are equal bytes.
func encodeTotals(t *Totals) []byte {
	n := binary.MaxVarintLen64
	for _, k := range t.names {
		n += len(k) + 2*binary.MaxVarintLen64
	}
	b := binary.AppendUvarint(make([]byte, 0, n), uint64(len(t.names)))
	for i, k := range t.names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendVarint(b, t.vals[i])
	}
	return b
}

var errTotals = errors.New("report: malformed totals")

func decodeTotals(b []byte) (*Totals, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errTotals
	}
	b = b[k:]
	t := &Totals{names: make([]string, 0, n), vals: make([]int64, 0, n)}
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
		if len(t.names) > 0 && t.names[len(t.names)-1] >= name {
			return nil, errTotals // not sorted, or a name twice
		}
		t.names = append(t.names, name)
		t.vals = append(t.vals, v)
	}
	if len(b) != 0 {
		return nil, errTotals
	}
	return t, nil
}

// running is a year's totals as applying entries keeps them, with the
// number of changes so far (which decides where snapshots go).
type running struct {
	n uint64
	t Totals
}

func encodeRunning(r *running) ([]byte, error) {
	return append(binary.AppendUvarint(nil, r.n), encodeTotals(&r.t)...), nil
}

func decodeRunning(b []byte) (*running, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errTotals
	}
	t, err := decodeTotals(b[k:])
	if err != nil {
		return nil, err
	}
	return &running{n: n, t: *t}, nil
}
