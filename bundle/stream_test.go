package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/liuhen/liuhen/ledger"
)

// streamLog returns the NDJSON of a real ledger of a few thousand entries
// (a few blocks, many chunks) and its signed head.
func streamLog(t *testing.T) ([]byte, *testLog) {
	t.Helper()
	tl := newTestLog(t, 6000)
	var nd bytes.Buffer
	for _, b := range tl.l.Entries(0) {
		nd.Write(b)
		nd.WriteByte('\n')
	}
	if nd.Len() < 2*blockSize {
		t.Fatalf("the log is %d bytes: too small to cross blocks", nd.Len())
	}
	return nd.Bytes(), tl
}

// jaggedReader returns reads of random sizes, as a socket or an archive
// does, so that lines and blocks are cut everywhere.
type jaggedReader struct {
	b   []byte
	rnd *rand.Rand
}

func (j *jaggedReader) Read(p []byte) (int, error) {
	if len(j.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(j.b), 1+j.rnd.IntN(70000))
	copy(p, j.b[:n])
	j.b = j.b[n:]
	return n, nil
}

func runStream(nd []byte, seed uint64) (*ledger.ChainVerifier, int, error) {
	v := ledger.NewChainVerifier()
	seen := 0
	st := Stream{V: v, Entry: func(e *ledger.Entry) error {
		if e.Seq != uint64(seen) || len(e.Bytes) == 0 || e.Bytes[len(e.Bytes)-1] != '}' {
			return errors.New("entries out of order or cut")
		}
		seen++
		return nil
	}}
	err := st.Run(context.Background(), &jaggedReader{b: nd, rnd: rand.New(rand.NewPCG(seed, 1))})
	return v, seen, err
}

// TestStream checks Stream on one real log of a few blocks.
func TestStream(t *testing.T) {
	nd, tl := streamLog(t)
	t.Run("blocks", func(t *testing.T) { testStreamBlocks(t, nd, tl) })
	t.Run("tamper", func(t *testing.T) { testStreamLocatesTamper(t, nd) })
	t.Run("RunBlocks", func(t *testing.T) { testStreamRunBlocks(t, nd, tl) })
}

// testStreamBlocks: whatever the reads, every entry is checked once, in
// order, and the root is the ledger's; a last line without its newline is
// still an entry.
func testStreamBlocks(t *testing.T, nd []byte, tl *testLog) {
	head := tl.l.Head()
	for seed, in := range [][]byte{nd, bytes.TrimSuffix(nd, []byte("\n"))} {
		v, seen, err := runStream(in, uint64(seed))
		if err != nil {
			t.Fatal(err)
		}
		if v.Size() != head.Size || uint64(seen) != head.Size || v.Root() != head.Root {
			t.Fatalf("verified %d (entries seen %d) with root %x, want %d with root %x", v.Size(), seen, v.Root(), head.Size, head.Root)
		}
	}
}

// testStreamLocatesTamper: a changed byte anywhere in an entry, a dropped
// line or a line longer than a block is reported at that entry's seq.
func testStreamLocatesTamper(t *testing.T, nd []byte) {
	lines := bytes.SplitAfter(nd, []byte("\n"))
	rnd := rand.New(rand.NewPCG(7, 7))
	for range 3 {
		seq := 1 + rnd.IntN(len(lines)-2)
		line := lines[seq]
		bad := bytes.Clone(nd)
		off := len(bytes.Join(lines[:seq], nil)) + rnd.IntN(len(line)-1)
		bad[off] ^= 0x01
		_, _, err := runStream(bad, uint64(seq))
		var ce *ledger.ChainError
		// The changed entry fails to decode or its successor's prev names it.
		if !errors.As(err, &ce) || ce.Seq != uint64(seq) && ce.Seq != uint64(seq+1) {
			t.Fatalf("byte %d of entry %d changed: %v", off, seq, err)
		}
		if ce.Seq == uint64(seq+1) && ce.What != "prev" {
			t.Fatalf("byte %d of entry %d changed: %v", off, seq, err)
		}
	}
	drop := bytes.Join(append(append([][]byte{}, lines[:100]...), lines[101:]...), nil)
	if _, _, err := runStream(drop, 1); !isChainErrorAt(err, 100, "seq") {
		t.Fatalf("entry 100 dropped: %v", err)
	}
	long := bytes.Join([][]byte{bytes.Join(lines[:3000], nil), []byte(strings.Repeat("x", 3*blockSize) + "\n"), bytes.Join(lines[3000:], nil)}, nil)
	_, seen, err := runStream(long, 2)
	var ce *ledger.ChainError
	if !errors.As(err, &ce) || ce.Seq != 3000 || seen != 3000 || !strings.Contains(ce.What, "does not decode") {
		t.Fatalf("a 3 MiB line after entry 2999: %v (seen %d)", err, seen)
	}
}

func isChainErrorAt(err error, seq uint64, what string) bool {
	var ce *ledger.ChainError
	return errors.As(err, &ce) && ce.Seq == seq && ce.What == what
}

// testStreamRunBlocks: blocks given whole are each released once, after
// their entries were checked.
func testStreamRunBlocks(t *testing.T, nd []byte, tl *testLog) {
	lines := bytes.SplitAfter(nd, []byte("\n"))
	var blocks [][]byte
	for i := 0; i < len(lines); i += 2500 {
		blocks = append(blocks, bytes.Join(lines[i:min(i+2500, len(lines))], nil))
	}
	released := make([]int, len(blocks))
	v := ledger.NewChainVerifier()
	next := 0
	st := Stream{V: v}
	err := st.RunBlocks(context.Background(), func() ([]byte, func(), error) {
		if next == len(blocks) {
			return nil, nil, io.EOF
		}
		i := next
		next++
		return blocks[i], func() { released[i]++ }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != tl.l.Head().Size || v.Root() != tl.l.Head().Root {
		t.Fatalf("verified %d, want %d", v.Size(), tl.l.Head().Size)
	}
	for i, n := range released {
		if n != 1 {
			t.Fatalf("block %d released %d times", i, n)
		}
	}
}

// TestSplitHasher: one pass gives the sum of the whole input and of its
// first lines, however the reads cut it, and the whole when it has fewer.
func TestSplitHasher(t *testing.T) {
	in := bytes.Repeat([]byte("一行\n"), 200000)
	for _, lines := range []uint64{0, 1, 99999, 200000, 300000} {
		h := sha256.New()
		s := &splitHasher{r: &jaggedReader{b: in, rnd: rand.New(rand.NewPCG(lines, 3))}, h: h, lines: lines}
		if _, err := io.Copy(io.Discard, s); err != nil {
			t.Fatal(err)
		}
		whole := sha256.Sum256(in)
		prefix := sha256.Sum256(in[:min(len(in), int(lines)*len("一行\n"))])
		if !bytes.Equal(h.Sum(nil), whole[:]) || !bytes.Equal(s.prefixSum(), prefix[:]) {
			t.Errorf("lines %d: sums differ", lines)
		}
	}
}
