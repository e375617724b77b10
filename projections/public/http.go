package public

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
	"github.com/liuhen/liuhen/projections"
)

// Page is one page of the feed, newest publication first.
type Page struct {
	Decisions []Disclosure `json:"decisions"`
	Next      string       `json:"next,omitempty"`
	Size      uint64       `json:"size"` // ledger entries the feed reflects
}

// List returns up to limit disclosures published before cursor ("" for
// the newest).
func List(sn *projections.Snapshot, limit int, cursor uint64) (*Page, error) {
	upper := []byte("pub/p0")
	if cursor > 0 {
		upper = itemKey(cursor)
	}
	it, err := sn.NewIter(&pebble.IterOptions{LowerBound: []byte("pub/p/"), UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	p := &Page{Decisions: []Disclosure{}, Size: sn.Size}
	for ok := it.Last(); ok; ok = it.Prev() {
		if len(p.Decisions) == limit {
			p.Next = base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, p.Decisions[limit-1].Publication.Seq))
			break
		}
		var d Disclosure
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			return nil, err
		}
		p.Decisions = append(p.Decisions, d)
	}
	return p, it.Error()
}

// Handler serves GET /v1/public/decisions?limit=&cursor= from src. It needs
// no token: everything stored by this projection is already redacted.
func Handler(src projections.Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/public/decisions", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 50
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 500 {
				projections.WriteProblem(w, projections.CodeBadParameter, "limit", "limit is 1 to 500")
				return
			}
			limit = n
		}
		var cursor uint64
		if s := q.Get("cursor"); s != "" {
			b, err := base64.RawURLEncoding.DecodeString(s)
			if err != nil || len(b) != 8 {
				projections.WriteProblem(w, projections.CodeBadParameter, "cursor", "cursor is malformed")
				return
			}
			cursor = binary.BigEndian.Uint64(b)
		}
		sn, err := src.Snapshot()
		if err != nil {
			projections.WriteProblem(w, projections.CodeUnavailable, "", err.Error())
			return
		}
		defer sn.Close()
		p, err := List(sn, limit, cursor)
		if err != nil {
			projections.WriteProblem(w, projections.CodeInternal, "", err.Error())
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		projections.WriteJSON(w, p)
	})
	return mux
}
