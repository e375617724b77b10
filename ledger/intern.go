package ledger

import (
	"sync"
	"sync/atomic"
)

// interner hands out one string per distinct value of a field whose values
// repeat across entries (record types, device ids), so that decoding an
// entry does not allocate them afresh: the relay, every consumer and Verify
// decode every entry. Lookups take no lock and allocate nothing; a new value
// copies the map, so the set is bounded and values past the bound are
// simply allocated.
type interner struct {
	m     atomic.Pointer[map[string]string]
	mu    sync.Mutex
	limit int
}

var (
	recordTypes = &interner{limit: 512}
	deviceIDs   = &interner{limit: 2048}
)

func (in *interner) get(b []byte) string {
	if m := in.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	var old map[string]string
	if p := in.m.Load(); p != nil {
		old = *p
	}
	if v, ok := old[s]; ok {
		return v
	}
	if len(old) >= in.limit {
		return s
	}
	m := make(map[string]string, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[s] = s
	in.m.Store(&m)
	return s
}
