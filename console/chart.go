package console

import (
	"math"
	"strconv"
)

// Charts are SVG drawn by the server: the templates place rectangles and
// labels at the coordinates computed here, with presentation attributes
// only (the Content-Security-Policy forbids inline styles). Each chart also
// carries its data as a table for screen readers and keyboard users.

// chart is a bar chart.
type chart struct {
	ID         string // for aria-labelledby
	Title      string
	Unit       string
	Horizontal bool
	Width      int
	Height     int
	Bars       []bar
	Ticks      []tick
	Empty      bool // every value is zero
}

// bar is one bar: its rectangle, its label and where they go.
type bar struct {
	Label, Value string
	Href         string // drill-down link, "" for none
	X, Y, W, H   float64
	LX, LY       float64 // label position
	VX, VY       float64 // value position
	ShowLabel    bool
}

// tick is a value-axis line.
type tick struct {
	Label          string
	X1, Y1, X2, Y2 float64
	LX, LY         float64
}

// point is one value of a chart.
type point struct {
	Label string
	Value float64
	Text  string // the value as shown
	Href  string
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten, and
// to at least 1 when the values are counts.
func niceStep(step float64, integer bool) float64 {
	if integer && step < 1 {
		return 1
	}
	if step <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(step)))
	for _, f := range []float64{1, 2, 5, 10} {
		if f*p >= step {
			return f * p
		}
	}
	return 10 * p
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// columns draws vertical bars, one per point, labelling every labelEvery-th.
func columns(id, title, unit string, pts []point, labelEvery int) chart {
	const w, h, left, right, top, bottom = 880.0, 240.0, 48.0, 8.0, 12.0, 28.0
	c := chart{ID: id, Title: title, Unit: unit, Width: int(w), Height: int(h)}
	mx := 0.0
	for _, p := range pts {
		mx = max(mx, p.Value)
	}
	c.Empty = mx == 0
	integer := true
	for _, p := range pts {
		integer = integer && p.Value == math.Trunc(p.Value)
	}
	step := niceStep(mx/4, integer)
	n := max(1, int(math.Ceil(mx/step)))
	mx = step * float64(n)
	plotW, plotH := w-left-right, h-top-bottom
	for i := 0; i <= n; i++ {
		v := step * float64(i)
		y := top + plotH - plotH*float64(i)/float64(n)
		c.Ticks = append(c.Ticks, tick{Label: tickLabel(v), X1: left, Y1: y, X2: w - right, Y2: y, LX: left - 6, LY: y + 4})
	}
	if len(pts) == 0 {
		return c
	}
	slot := plotW / float64(len(pts))
	for i, p := range pts {
		bh := plotH * p.Value / mx
		x := left + slot*float64(i) + slot*0.15
		c.Bars = append(c.Bars, bar{
			Label: p.Label, Value: p.Text, Href: p.Href,
			X: x, Y: top + plotH - bh, W: slot * 0.7, H: bh,
			LX: x + slot*0.35, LY: h - 8, VX: x + slot*0.35, VY: top + plotH - bh - 3,
			ShowLabel: labelEvery <= 1 || i%labelEvery == 0 || i == len(pts)-1,
		})
	}
	return c
}

// rows draws horizontal bars, one per point, with the labels on the left.
func rows(id, title, unit string, pts []point) chart {
	const w, left, right, rowH, top = 600.0, 118.0, 96.0, 24.0, 6.0
	h := top*2 + rowH*float64(len(pts))
	c := chart{ID: id, Title: title, Unit: unit, Horizontal: true, Width: int(w), Height: int(h)}
	mx := 0.0
	for _, p := range pts {
		mx = max(mx, p.Value)
	}
	c.Empty = mx == 0
	if mx == 0 {
		mx = 1
	}
	plotW := w - left - right
	for i, p := range pts {
		y := top + rowH*float64(i)
		bw := plotW * p.Value / mx
		c.Bars = append(c.Bars, bar{
			Label: p.Label, Value: p.Text, Href: p.Href,
			X: left, Y: y + 4, W: bw, H: rowH - 8,
			LX: left - 8, LY: y + rowH/2 + 5, VX: left + bw + 6, VY: y + rowH/2 + 5, ShowLabel: true,
		})
	}
	return c
}
