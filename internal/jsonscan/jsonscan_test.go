package jsonscan

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestIndexQuote holds indexQuote to bytes.IndexByte at every start, over
// inputs of every length up to 40 with quotes, backslashes, high bytes and
// zero bytes in random places.
func TestIndexQuote(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'"', '\\', 'a', 0, 0x80, 0xff, 0x21, 0x23, 0xe4}
	for range 20000 {
		b := make([]byte, rng.IntN(41))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		for j := 0; j <= len(b); j++ {
			want := bytes.IndexByte(b[j:], '"')
			if want >= 0 {
				want += j
			}
			if got := indexQuote(b, j); got != want {
				t.Fatalf("indexQuote(%q, %d) = %d, want %d", b, j, got, want)
			}
		}
	}
}

// TestSkipString: escaped quotes and backslashes before a quote.
func TestSkipString(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int // end, -1 for an error
	}{
		{`""`, 2},
		{`"abc",`, 5},
		{`"a\"b"`, 6},
		{`"a\\"b"`, 5},
		{`"a\\\"b"`, 8},
		{`"` + string(bytes.Repeat([]byte("长"), 20)) + `\"x"`, 65},
		{`"unterminated`, -1},
		{`"escaped at the end\"`, -1},
	} {
		got, err := SkipString([]byte(c.in), 0)
		if c.want < 0 {
			if err == nil {
				t.Errorf("SkipString(%q) = %d, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SkipString(%q) = %d, %v, want %d", c.in, got, err, c.want)
		}
	}
}
