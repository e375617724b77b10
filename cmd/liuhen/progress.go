package main

import (
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"time"
)

// A progress reports how far a long command has come: on a terminal, one
// line redrawn in place with count, percentage, rate and ETA; elsewhere
// nothing, so that logs and pipes stay clean. It also samples the heap, so
// that --json output can show that memory stays bounded.
type progress struct {
	w       io.Writer // nil: draw nothing
	label   string
	total   uint64 // 0: unknown
	done    uint64
	start   time.Time
	drawn   time.Time
	maxHeap uint64
	sample  []metrics.Sample
}

func newProgress(stderr io.Writer, label string, total uint64, quiet bool) *progress {
	p := &progress{label: label, total: total, start: time.Now(),
		sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
	if !quiet && isTerminal(stderr) {
		p.w = stderr
	}
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// add counts n more units; it redraws at most five times a second.
func (p *progress) add(n uint64) {
	p.done += n
	now := time.Now()
	if now.Sub(p.drawn) < 200*time.Millisecond {
		return
	}
	p.drawn = now
	p.sampleHeap()
	if p.w != nil {
		p.draw(now)
	}
}

func (p *progress) sampleHeap() {
	metrics.Read(p.sample)
	if v := p.sample[0].Value; v.Kind() == metrics.KindUint64 && v.Uint64() > p.maxHeap {
		p.maxHeap = v.Uint64()
	}
}

func (p *progress) rate(now time.Time) float64 {
	s := now.Sub(p.start).Seconds()
	if s <= 0 {
		return 0
	}
	return float64(p.done) / s
}

func (p *progress) draw(now time.Time) {
	r := p.rate(now)
	line := fmt.Sprintf("%s %s", p.label, thousands(p.done))
	if p.total > 0 {
		pct := 100 * float64(p.done) / float64(p.total)
		line += fmt.Sprintf("/%s %5.1f%% %s", thousands(p.total), pct, bar(pct, 24))
	}
	line += fmt.Sprintf("  %s/s", thousands(uint64(r)))
	if p.total > p.done && r > 0 {
		eta := time.Duration(float64(p.total-p.done) / r * float64(time.Second))
		line += "  ETA " + eta.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%-100s", line)
}

// finish clears the progress line and returns the elapsed time.
func (p *progress) finish() time.Duration {
	p.sampleHeap()
	if p.w != nil && !p.drawn.IsZero() {
		fmt.Fprintf(p.w, "\r%-100s\r", "")
	}
	return time.Since(p.start)
}

func bar(pct float64, width int) string {
	n := int(pct / 100 * float64(width))
	b := make([]byte, 0, width+2)
	b = append(b, '[')
	for i := range width {
		if i < n {
			b = append(b, '#')
		} else {
			b = append(b, '.')
		}
	}
	return string(append(b, ']'))
}

// thousands formats n with comma separators.
func thousands(n uint64) string {
	s := fmt.Sprint(n)
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
