package bundle

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/liuhen/liuhen/ledger"
)

// A Stream feeds NDJSON entries (one per line, in seq order) to a
// ledger.ChainVerifier, which checks every hash and link and computes the
// Merkle root. Reading, scanning (ScanEntry), leaf hashing and checking
// overlap: lines are scanned and hashed on all cores while the verifier
// takes earlier ones in order,
// so a long log verifies at the speed of its one sequential step. Memory is
// a few chunks of lines, whatever the length of the stream.
type Stream struct {
	// V checks the entries. Required; it must be at the seq of the first
	// line.
	V *ledger.ChainVerifier
	// Stop, if not zero, is the size at which to stop: lines for seq Stop and
	// after are read but not checked.
	Stop uint64
	// Entry, if set, is called for every checked entry, in seq order, with
	// the line (valid only during the call).
	Entry func(e *ledger.Entry) error
	// Progress, if set, is called after each chunk with the entries checked
	// in it.
	Progress func(n int)
}

// A chunk is at most chunkLines lines or about chunkBytes bytes: enough to
// amortize the hand-offs, little enough that the few in flight stay small
// whatever the entries' size.
const (
	chunkLines = 512
	chunkBytes = 512 << 10
)

type chunk struct {
	buf   []byte
	lines [][2]int // offsets of each line in buf
	ents  []*ledger.Entry
	leafs []ledger.Hash
	errs  []error
	done  chan struct{}
}

// Run reads r to its end (or to Stop) and checks every line. The first
// failure is returned: a *ledger.ChainError naming the seq.
func (s *Stream) Run(ctx context.Context, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A few chunks in flight keep every core busy; more would only hold
	// memory.
	procs := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, procs)
	ordered := make(chan *chunk, 2*procs+2)
	var readErr error
	go func() {
		defer close(work)
		defer close(ordered)
		readErr = readChunks(ctx, r, work, ordered)
	}()
	for range procs {
		go func() {
			for c := range work {
				for i, l := range c.lines {
					b := c.buf[l[0]:l[1]:l[1]]
					if c.ents[i], c.errs[i] = ScanEntry(b); c.errs[i] == nil {
						c.leafs[i] = ledger.LeafHash(b)
					}
				}
				close(c.done)
			}
		}()
	}
	for c := range ordered {
		<-c.done
		n := 0
		for i := range c.ents {
			if s.Stop > 0 && s.V.Size() >= s.Stop {
				break
			}
			if c.errs[i] != nil {
				return &ledger.ChainError{Seq: s.V.Size(), What: "entry does not decode: " + c.errs[i].Error()}
			}
			if err := s.V.AddHashed(c.ents[i], c.leafs[i]); err != nil {
				return err
			}
			if s.Entry != nil {
				if err := s.Entry(c.ents[i]); err != nil {
					return err
				}
			}
			n++
		}
		if s.Progress != nil && n > 0 {
			s.Progress(n)
		}
		c.recycle()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return readErr
}

// readChunks splits r into chunks of lines and hands each to a worker and,
// in order, to the checker.
func readChunks(ctx context.Context, r io.Reader, work, ordered chan<- *chunk) error {
	br := bufio.NewReaderSize(r, 1<<20)
	c := newChunk()
	send := func() bool {
		select {
		case ordered <- c:
		case <-ctx.Done():
			return false
		}
		select {
		case work <- c:
		case <-ctx.Done():
			close(c.done)
			return false
		}
		c = newChunk()
		return true
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if len(line) > 0 {
			body := line
			if body[len(body)-1] == '\n' {
				body = body[:len(body)-1]
			} else if err == nil {
				return fmt.Errorf("line without a newline")
			}
			start := len(c.buf)
			c.buf = append(c.buf, body...)
			c.lines = append(c.lines, [2]int{start, len(c.buf)})
			c.ents = append(c.ents, nil)
			c.leafs = append(c.leafs, ledger.Hash{})
			c.errs = append(c.errs, nil)
			if (len(c.lines) == chunkLines || len(c.buf) >= chunkBytes) && !send() {
				return nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(c.lines) > 0 {
		send()
	}
	return nil
}

// chunks recycles chunks: a long stream would otherwise allocate (and the
// runtime clear) a buffer for every 512 lines.
var chunks = sync.Pool{New: func() any {
	return &chunk{buf: make([]byte, 0, chunkLines*800), lines: make([][2]int, 0, chunkLines),
		ents: make([]*ledger.Entry, 0, chunkLines), leafs: make([]ledger.Hash, 0, chunkLines), errs: make([]error, 0, chunkLines)}
}}

func newChunk() *chunk {
	c := chunks.Get().(*chunk)
	c.done = make(chan struct{})
	return c
}

// recycle returns a checked chunk to the pool; nothing may hold its lines.
func (c *chunk) recycle() {
	c.buf, c.lines = c.buf[:0], c.lines[:0]
	clear(c.ents)
	clear(c.errs)
	c.ents, c.leafs, c.errs = c.ents[:0], c.leafs[:0], c.errs[:0]
	chunks.Put(c)
}
