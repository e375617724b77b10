package ledger

import (
	"sync"

	"github.com/liuhen/liuhen/internal/jsonview"
)

var canonicalDocs = sync.Pool{New: func() any { return new(jsonview.Doc) }}

// appendCanonical appends the RFC 8785 form of the JSON text b to dst when
// jsonview writes it (see jsonview.Doc.AppendCanonical); ok is false when
// the caller must ask jsontext.
func appendCanonical(dst, b []byte) (out []byte, ok bool) {
	d := canonicalDocs.Get().(*jsonview.Doc)
	defer canonicalDocs.Put(d)
	v, err := d.Parse(b)
	if err != nil {
		return dst, false
	}
	return d.AppendCanonical(dst, v)
}
