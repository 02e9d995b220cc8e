package bench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// A Chart is a horizontal grouped bar chart: one group of bars per Bar, one
// bar per series.
type Chart struct {
	Title     string
	Unit      string // the axis label
	Log       bool   // a log₁₀ axis, for figures that span decades
	Series    []string
	Bars      []Bar
	Mark      float64 // a reference line at this value; 0 draws none
	MarkLabel string
}

// A Bar is one labelled group of a Chart; NaN values are drawn as "n/a".
type Bar struct {
	Label  string
	Ours   bool // cellkit's: bold label, solid bars
	Values []float64
}

var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"}

// Chart geometry, in px.
const (
	svgWidth  = 880
	svgLabelW = 250 // left column of bar labels
	svgValueW = 70  // right margin for value labels
	svgBarH   = 11
	svgBarGap = 2
	svgGroupG = 9
	svgTop    = 58
	svgAxisH  = 44
)

// SVG renders the chart as a standalone SVG document.
func (c Chart) SVG() []byte {
	x0, x1 := float64(svgLabelW+10), float64(svgWidth-svgValueW)
	ns := max(len(c.Series), 1)
	groupH := ns*svgBarH + (ns-1)*svgBarGap
	plotH := len(c.Bars)*(groupH+svgGroupG) + svgGroupG
	height := svgTop + plotH + svgAxisH

	lo, hi, ticks := c.axis()
	pos := func(v float64) float64 {
		if c.Log {
			v = math.Max(v, lo)
			return x0 + (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*(x1-x0)
		}
		return x0 + (v-lo)/(hi-lo)*(x1-x0)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", 10, esc(c.Title))
	// Legend.
	lx := 10.0
	for i, s := range c.Series {
		fmt.Fprintf(&b, `<rect x="%.1f" y="34" width="12" height="12" fill="%s"/><text x="%.1f" y="44">%s</text>`+"\n", lx, palette[i%len(palette)], lx+16, esc(s))
		lx += 16 + float64(7*len(s)) + 18
	}
	if c.mixed() {
		fmt.Fprintf(&b, `<text x="%.1f" y="44" fill="#555">bold: cellkit (solid bars); peers lighter</text>`+"\n", lx+10)
	}

	// Grid and ticks.
	axisY := svgTop + plotH
	for _, t := range ticks {
		x := pos(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e3e3"/>`+"\n", x, svgTop, x, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`+"\n", x, axisY+16, esc(fmtTick(t)))
	}
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", x0, axisY, x1, axisY)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`+"\n", (x0+x1)/2, axisY+36, esc(c.Unit))

	// Bars.
	for gi, bar := range c.Bars {
		gy := svgTop + svgGroupG + gi*(groupH+svgGroupG)
		weight := "normal"
		if bar.Ours {
			weight = "bold"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-weight="%s">%s</text>`+"\n", svgLabelW, gy+groupH/2+4, weight, esc(bar.Label))
		for si := range ns {
			y := gy + si*(svgBarH+svgBarGap)
			v := nanValue
			if si < len(bar.Values) {
				v = bar.Values[si]
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#777">n/a</text>`+"\n", x0+4, y+svgBarH-2)
				continue
			}
			opacity := "0.55"
			if bar.Ours {
				opacity = "1"
			}
			w := math.Max(pos(v)-x0, 1)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="%s"/>`+"\n", x0, y, w, svgBarH, palette[si%len(palette)], opacity)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" fill="#222">%s</text>`+"\n", x0+w+3, y+svgBarH-2, esc(fmtValue(v)))
		}
	}
	if c.Mark > 0 && c.Mark >= lo && c.Mark <= hi {
		x := pos(c.Mark)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="4 3"/>`+"\n", x, svgTop-4, x, axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#c00" font-size="10">%s</text>`+"\n", x, svgTop-7, esc(c.MarkLabel))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// mixed reports whether the chart has both cellkit's bars and peers'.
func (c Chart) mixed() bool {
	ours, peers := false, false
	for _, b := range c.Bars {
		ours, peers = ours || b.Ours, peers || !b.Ours
	}
	return ours && peers
}

// axis returns the axis range and its ticks: whole decades on a log axis,
// about five round steps from 0 on a linear one.
func (c Chart) axis() (lo, hi float64, ticks []float64) {
	vmin, vmax := math.Inf(1), 0.0
	for _, bar := range c.Bars {
		for _, v := range bar.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				continue
			}
			vmin, vmax = math.Min(vmin, v), math.Max(vmax, v)
		}
	}
	if c.Mark > 0 {
		vmin, vmax = math.Min(vmin, c.Mark), math.Max(vmax, c.Mark)
	}
	if vmax == 0 {
		vmin, vmax = 1, 10
	}
	if c.Log {
		lo = math.Pow(10, math.Floor(math.Log10(vmin)))
		hi = math.Pow(10, math.Ceil(math.Log10(vmax)))
		if hi <= lo {
			hi = lo * 10
		}
		for t := lo; t <= hi*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
		return lo, hi, ticks
	}
	step := niceStep(vmax * 1.08 / 5)
	hi = math.Ceil(vmax*1.08/step) * step
	for t := 0.0; t <= hi+step/2; t += step {
		ticks = append(ticks, t)
	}
	return 0, hi, ticks
}

func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// fmtValue prints a bar's value with three significant digits.
func fmtValue(v float64) string {
	if v >= 1000 {
		return fmtNs(v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func esc(s string) string { return html.EscapeString(s) }
