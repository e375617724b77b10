package ledger

import (
	"fmt"
	"sync"
	"testing"
)

// TestInterner: equal values come back equal, concurrently, and past the
// bound values are still returned right.
func TestInterner(t *testing.T) {
	in := &interner{limit: 8}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				v := fmt.Sprintf("type-%d", (i+g)%16)
				if got := in.get([]byte(v)); got != v {
					t.Errorf("get(%q) = %q", v, got)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(*in.m.Load()); n != 8 {
		t.Errorf("%d values held, want the bound 8", n)
	}
	for held := range *in.m.Load() {
		b := []byte(held)
		if allocs := testing.AllocsPerRun(100, func() { in.get(b) }); allocs != 0 {
			t.Errorf("getting the held value %q costs %.0f allocations", held, allocs)
		}
		break
	}
}
