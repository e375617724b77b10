package bundle

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/liuhen/liuhen/ledger"
)

// A Stream feeds NDJSON entries (one per line, in seq order) to a
// ledger.ChainVerifier, which checks every hash and link and computes the
// Merkle root. Reading, scanning (ScanEntry), leaf hashing and checking
// overlap: the input is read in large blocks, which workers on all cores
// split into lines, scan and hash where they lie (no line is copied), while
// the verifier takes earlier ones in order. A long log therefore verifies
// at the speed of its one sequential step. Memory is a few blocks, whatever
// the length of the stream.
type Stream struct {
	// V checks the entries. Required; it must be at the seq of the first
	// line.
	V *ledger.ChainVerifier
	// Stop, if not zero, is the size at which to stop: lines for seq Stop and
	// after are read but not checked.
	Stop uint64
	// Entry, if set, is called for every checked entry, in seq order. The
	// entry and its Bytes are valid only during the call.
	Entry func(e *ledger.Entry) error
	// Progress, if set, is called after each chunk with the entries checked
	// in it.
	Progress func(n int)
}

// Blocks are read blockSize bytes at a time and handed to the workers in
// chunks of about chunkBytes, cut at line ends: large enough to amortize
// the hand-offs and the reads, small enough that the few in flight stay
// small and both cores get work early.
const (
	blockSize  = 1 << 20
	chunkBytes = 128 << 10
)

type chunk struct {
	b       []byte // whole lines; the last may lack its newline at the end of the input
	ents    []ledger.Entry
	leafs   []ledger.Hash
	errs    []error
	done    chan struct{}
	release func() // called once the chunk is checked, nil if none
}

// Run reads r to its end (or to Stop) and checks every line. The first
// failure is returned: a *ledger.ChainError naming the seq.
func (s *Stream) Run(ctx context.Context, r io.Reader) error {
	br := &blockReader{r: r}
	return s.RunBlocks(ctx, br.next)
}

// RunBlocks is Run for input that comes in blocks of whole lines already
// (GET /v1/events pages). next returns the next block, every line of which
// ends in a newline, and a function to call once its entries have been
// checked (nil if none), so that its memory can be reused; io.EOF ends the
// input. next is called from one goroutine, in order.
func (s *Stream) RunBlocks(ctx context.Context, next func() ([]byte, func(), error)) error {
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
		readErr = splitBlocks(ctx, next, work, ordered)
	}()
	for range procs {
		go func() {
			for c := range work {
				c.scan()
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
			e := &c.ents[i]
			if err := s.V.AddHashed(e, c.leafs[i]); err != nil {
				return err
			}
			if s.Entry != nil {
				if err := s.Entry(e); err != nil {
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

// scan splits the chunk into lines and scans and hashes each.
func (c *chunk) scan() {
	b := c.b
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i:i], b[i+1:]
		} else {
			b = nil
		}
		c.ents = append(c.ents, ledger.Entry{})
		c.leafs = append(c.leafs, ledger.Hash{})
		k := len(c.ents) - 1
		err := ScanEntryInto(&c.ents[k], line)
		c.errs = append(c.errs, err)
		if err == nil {
			c.leafs[k] = ledger.LeafHash(line)
		}
	}
}

// splitBlocks cuts each block into chunks at line ends and hands each to a
// worker and, in order, to the checker.
func splitBlocks(ctx context.Context, next func() ([]byte, func(), error), work, ordered chan<- *chunk) error {
	send := func(c *chunk) bool {
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
		return true
	}
	for {
		b, release, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(b) == 0 && release != nil {
			release()
		}
		for len(b) > 0 {
			n := len(b)
			if n > chunkBytes {
				if i := bytes.IndexByte(b[chunkBytes:], '\n'); i >= 0 {
					n = chunkBytes + i + 1
				}
			}
			c := newChunk()
			c.b, b = b[:n:n], b[n:]
			if len(b) == 0 {
				c.release = release // the block's last chunk frees it
			}
			if !send(c) {
				return nil
			}
		}
	}
}

// A blockReader reads an io.Reader in blocks of whole lines (the last line
// of the input may lack its newline).
type blockReader struct {
	r     io.Reader
	carry []byte // the start of a line the last block cut, to begin the next
	eof   bool
}

// blocks recycles the blockReader's buffers.
var blocks = sync.Pool{New: func() any { b := make([]byte, 0, blockSize); return &b }}

func (br *blockReader) next() ([]byte, func(), error) {
	if br.eof {
		return nil, nil, io.EOF
	}
	bp := blocks.Get().(*[]byte)
	buf := append((*bp)[:0], br.carry...)
	br.carry = nil
	for {
		if len(buf) == cap(buf) {
			// A line longer than a block: read on until it ends.
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := br.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			br.eof = true
			if len(buf) == 0 {
				blocks.Put(bp)
				return nil, nil, io.EOF
			}
			break
		}
		if err != nil {
			blocks.Put(bp)
			return nil, nil, err
		}
		if len(buf) == cap(buf) {
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
				// Whole lines; the rest begins the next block (the workers
				// only read this buffer, so the copy can wait).
				br.carry = append([]byte(nil), buf[i+1:]...)
				buf = buf[:i+1]
				break
			}
		}
	}
	*bp = buf
	return buf, func() {
		if cap(*bp) <= 4*blockSize {
			blocks.Put(bp)
		}
	}, nil
}

// chunks recycles chunks and their slices.
var chunks = sync.Pool{New: func() any {
	const lines = chunkBytes / 256
	return &chunk{ents: make([]ledger.Entry, 0, lines), leafs: make([]ledger.Hash, 0, lines), errs: make([]error, 0, lines)}
}}

func newChunk() *chunk {
	c := chunks.Get().(*chunk)
	c.done = make(chan struct{})
	return c
}

// recycle releases a checked chunk's input and returns the chunk to the
// pool; nothing may hold its entries.
func (c *chunk) recycle() {
	if c.release != nil {
		c.release()
	}
	c.b, c.release = nil, nil
	clear(c.ents)
	clear(c.errs)
	c.ents, c.leafs, c.errs = c.ents[:0], c.leafs[:0], c.errs[:0]
	chunks.Put(c)
}
