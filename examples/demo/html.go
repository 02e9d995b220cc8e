package main

import (
	"fmt"
	"html"
	"maps"
	"math"
	"slices"
	"strings"
)

// The colours of the report, one meaning each (the legend lists them).
const (
	colServed   = "#2da44e" // an attempt or request served
	colFailover = "#0969da" // served on a later attempt: failover traffic
	colFailed   = "#cf222e" // failed
	colOpen     = "#8c959f" // breaker open: skipped, or the breaker lane
	colHalfOpen = "#d0d7de" // breaker half-open
	colFrozen   = "#d4a72c" // a tenant frozen: its writes refused
	colP50      = "#24292f" // latency p50
	colP99      = "#bf3989" // latency p99
	colInFlight = "#953800" // requests in flight
	colCPDown   = "#8250df" // control plane down (shaded)
	colBake     = "#1a7f7f" // a wave baking (shaded)
	colEvent    = "#57606a" // an event's number and dashed line
)

// spanColour is the shading of a span kind.
func spanColour(kind string) string {
	switch kind {
	case "control-plane-down":
		return colCPDown
	case "frozen":
		return colFrozen
	}
	return colBake
}

// Chart widths in SVG user units: the wide timeline for screens over 700
// px, the narrow one for phones, and a zone's chart (three columns on a wide
// screen, stacked on a narrow one). Every SVG scales to its box (viewBox,
// width 100%), so these set the text's size relative to the chart.
const (
	wideW   = 1200
	narrowW = 400
	zoneW   = 400
)

// renderHTML writes the report as one self-contained, well-formed page:
// inline SVG charts, inline CSS, no script and no external asset. It draws
// from the report's exported data only (Series, Marks, Spans), so the page
// shows what the JSON holds.
func renderHTML(rep *Report) []byte {
	var b strings.Builder
	verdict := "every scene met its expectation"
	if !rep.OK {
		verdict = "scenes that missed their expectation: " + strings.Join(rep.Failed, ", ")
	}
	b.WriteString(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>cellkit demo report</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1em auto; max-width: 1240px; padding: 0 12px; color: #1f2328; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #d0d7de; }
.ok { color: #1a7f37; } .fail { color: #cf222e; }
.carried { background: #f6f8fa; border-left: 4px solid #afb8c1; padding: 4px 8px; }
svg { display: block; width: 100%; max-width: 100%; height: auto; margin: 0.4em 0; }
.zones { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 4px 16px; }
.narrow { display: none; }
@media (max-width: 1000px) { .zones { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
@media (max-width: 700px) {
  body { font-size: 14px; }
  .zones { grid-template-columns: 1fr; }
  .wide { display: none; } .narrow { display: block; }
}
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 8px; text-align: right; white-space: nowrap; }
th { border-bottom: 1px solid #8c959f; } td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
ul.checks { list-style: none; padding-left: 0; }
ol.events { font-size: 13px; color: #57606a; padding-left: 1.6em; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 16px; padding: 0; list-style: none; font-size: 13px; }
.sw { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
.ln { display: inline-block; width: 16px; height: 0; border-top: 2px solid; margin-right: 4px; vertical-align: 3px; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 4px 1.2em; }
</style>
</head>
<body>
`)
	fmt.Fprintf(&b, "<h1>cellkit demo</h1>\n<p>%d cells in %d zones, %d tenants, one process on loopback; %s (%.1f s%s).</p>\n",
		rep.CellsCount, rep.ZonesCount, rep.TenantsCount, esc(verdict), rep.DurationS, map[bool]string{true: ", -quick"}[rep.Quick])
	b.WriteString(`<h2>How to read the charts</h2>
<p>Each scene has a timeline (events, the client's map version, what the callers got in requests per second, and their latency)
and a chart per zone with each cell's attempts from the client in attempts per second, on one scale for all nine cells.
Time runs left to right in seconds since the scene started. A request or an attempt counts in the slot in which it <em>ended</em>:
a stall shows as a dip followed by a burst, with its wait in the latency lane, never as requests that were not sent;
the in-flight line shows requests started and not yet ended. Event numbers sit in their own lane above the bars and refer to the list under the charts.</p>
<ul class="legend">
`)
	for _, l := range []struct{ col, what string }{
		{colServed, "served"}, {colFailover, "served on failover (traffic another cell's failure sent here)"},
		{colFailed, "failed"}, {colOpen, "breaker open (calls skip the cell)"}, {colHalfOpen, "breaker half-open"},
		{colFrozen, "tenant frozen: writes refused"},
	} {
		fmt.Fprintf(&b, "<li><span class=\"sw\" style=\"background:%s\"></span>%s</li>\n", l.col, esc(l.what))
	}
	for _, l := range []struct{ col, what string }{
		{colP50, "latency p50"}, {colP99, "latency p99"}, {colInFlight, "requests in flight (dashed)"}, {colEvent, "event (dashed, numbered)"},
	} {
		fmt.Fprintf(&b, "<li><span class=\"ln\" style=\"border-color:%s\"></span>%s</li>\n", l.col, esc(l.what))
	}
	for _, l := range []struct{ col, what string }{{colCPDown, "control plane down"}, {colBake, "wave baking, gate judging"}} {
		fmt.Fprintf(&b, "<li><span class=\"sw\" style=\"background:%s;opacity:.3\"></span>%s (shaded)</li>\n", l.col, esc(l.what))
	}
	b.WriteString("</ul>\n<dl class=\"glossary\">\n")
	for _, t := range rep.Glossary {
		fmt.Fprintf(&b, "<dt>%s</dt><dd>%s</dd>\n", esc(t.Term), esc(t.Meaning))
	}
	b.WriteString("</dl>\n")
	for _, s := range rep.Scenes {
		sceneHTML(&b, s)
	}
	b.WriteString("<h2>Blast radius</h2>\n<p>The share of tenants that got errors, measured (bar) and expected (black line).</p>\n")
	b.WriteString("<div class=\"wide\">\n")
	blastChart(&b, rep.Blast, wideW)
	b.WriteString("</div>\n<div class=\"narrow\">\n")
	blastChart(&b, rep.Blast, narrowW)
	b.WriteString("</div>\n</body>\n</html>\n")
	return []byte(b.String())
}

func sceneHTML(b *strings.Builder, s *SceneResult) {
	cls, word := "ok", "met"
	if !s.OK {
		cls, word = "fail", "missed"
	}
	fmt.Fprintf(b, "<h2>%d. %s <span class=\"%s\">(expectation %s)</span></h2>\n<p>%s</p>\n", s.N, esc(s.Title), cls, word, esc(s.Headline))
	fmt.Fprintf(b, "<p class=\"carried\">Starts from: %s</p>\n", esc(s.CarriedOver))
	if s.Series.SlotsCount > 0 {
		b.WriteString("<div class=\"wide\">\n")
		timeline(b, s, wideW)
		b.WriteString("</div>\n<div class=\"narrow\">\n")
		timeline(b, s, narrowW)
		b.WriteString("</div>\n<div class=\"zones\">\n")
		var zones []string
		for _, c := range s.Cells {
			if !slices.Contains(zones, c.Zone) {
				zones = append(zones, c.Zone)
			}
		}
		for _, z := range zones {
			zoneChart(b, s, z)
		}
		b.WriteString("</div>\n")
	}
	if ev := events(s.Marks); len(ev) > 0 {
		b.WriteString("<ol class=\"events\">\n")
		for _, m := range ev {
			fmt.Fprintf(b, "<li>%s at %.2f s</li>\n", esc(m.Label), m.AtMs/1000)
		}
		b.WriteString("</ol>\n")
	}
	b.WriteString("<div class=\"tablewrap\"><table>\n<tr><th>cell</th><th>zone</th><th>calls</th><th>failed</th><th>skipped</th>" +
		"<th>failover served</th><th>accepted</th><th>p99 ms</th><th>breaker</th></tr>\n")
	for _, c := range s.Cells {
		fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%.1f</td><td>%s</td></tr>\n",
			esc(c.ID), esc(c.Zone), c.Calls, c.Failed, c.Skipped, c.FailoverServed, c.Accepted, c.P99Ms, esc(c.Breaker))
	}
	b.WriteString("</table></div>\n")
	fmt.Fprintf(b, "<p>requests %d, errors %d (%s), tenants affected %d of %d (%s), failovers %d, misrouted accepted %d</p>\n",
		s.RequestsCount, s.ErrorsCount, pct(s.ErrorRatio), s.TenantsAffected, s.TenantsSeen, pct(s.AffectedShare), s.Failovers, s.Misrouted)
	b.WriteString("<ul class=\"checks\">\n")
	for _, c := range s.Checks {
		mark, cls := "✓", "ok"
		if !c.OK {
			mark, cls = "✗", "fail"
		}
		fmt.Fprintf(b, "<li><span class=\"%s\">%s</span> %s: %s</li>\n", cls, mark, esc(c.What), esc(c.Got))
	}
	b.WriteString("</ul>\n")
}

func esc(s string) string { return html.EscapeString(s) }

// events are the marks that get a number: all but breaker changes, which
// the cells' breaker lanes show.
func events(ms []Mark) []Mark {
	out := []Mark{}
	for _, m := range ms {
		if m.Kind != "breaker" {
			out = append(out, m)
		}
	}
	return out
}

// A frame maps a scene's time onto a chart's x axis.
type frame struct {
	x0, w, durMs float64
}

func (f frame) x(atMs float64) float64 {
	return f.x0 + min(max(atMs, 0), f.durMs)/f.durMs*f.w
}

func sceneFrame(s *SceneResult, x0, w float64) frame {
	return frame{x0: x0, w: w, durMs: max(float64(s.Series.SlotsCount)*s.Series.SlotWidthMs, 1)}
}

// svgOpen starts a chart that scales to its box: a viewBox and no fixed
// width or height.
func svgOpen(b *strings.Builder, w, h float64, label string) {
	fmt.Fprintf(b, "<svg viewBox=\"0 0 %.0f %.0f\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" aria-label=\"%s\">\n", w, h, esc(label))
	fmt.Fprintf(b, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", w, h)
}

func text(b *strings.Builder, x, y float64, size int, anchor, fill, class, s string) {
	fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" fill=\"%s\" class=\"%s\">%s</text>\n",
		x, y, size, anchor, fill, class, esc(s))
}

// eventLane draws the scene's event numbers in rows above the plot, each
// number moved down a row while it would overlap the one before it in its
// row. It returns the lane's height.
func eventLane(b *strings.Builder, ev []Mark, f frame, y float64) float64 {
	const rowH, gap, maxRows = 15.0, 16.0, 4
	var last []float64
	type placed struct {
		x   float64
		row int
	}
	var ps []placed
	for _, m := range ev {
		x := f.x(m.AtMs)
		row := -1
		for r, lx := range last {
			if x-lx >= gap {
				row = r
				break
			}
		}
		if row < 0 {
			if len(last) < maxRows {
				last = append(last, 0)
				row = len(last) - 1
			} else {
				row = maxRows - 1
			}
		}
		last[row] = x
		ps = append(ps, placed{x, row})
	}
	for i, p := range ps {
		cy := y + rowH*float64(p.row) + 7
		fmt.Fprintf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6.5\" fill=\"#fff\" stroke=\"%s\"/>\n", p.x, cy, colEvent)
		text(b, p.x, cy+3.5, 9, "middle", colEvent, "event", fmt.Sprint(i+1))
	}
	return rowH*float64(max(len(last), 1)) + 2
}

// eventLines draws every event as a dashed line from top to bottom.
func eventLines(b *strings.Builder, ev []Mark, f frame, top, bottom float64) {
	for _, m := range ev {
		x := f.x(m.AtMs)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"3,3\"/>\n", x, top, x, bottom, colEvent)
	}
}

// shade draws the scene's spans over top..bottom, translucent, over the
// plot.
func shade(b *strings.Builder, spans []Span, f frame, top, bottom float64) {
	for _, sp := range spans {
		x0, x1 := f.x(sp.FromMs), f.x(sp.ToMs)
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" opacity=\"0.16\"><title>%s</title></rect>\n",
			x0, top, max(x1-x0, 1), bottom-top, spanColour(sp.Kind), esc(sp.Label))
	}
}

// niceMax is the smallest 1, 2, 2.5 or 5 × 10^k at least v (v > 0).
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*0.999 {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%gk", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

// yAxis draws a linear y axis from 0 to top at x0 (on the left of the
// plot, or on its right when right is set); its top tick carries the unit.
func yAxis(b *strings.Builder, x0, y, h, top float64, unit string, right bool) {
	dir, anchor := -1.0, "end"
	if right {
		dir, anchor = 1, "start"
	}
	fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", x0, y, x0, y+h)
	for k, v := range []float64{0, top / 2, top} {
		ty := y + h - v/top*h
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", x0+3*dir, ty, x0, ty)
		label, class := fmtNum(v), "tick"
		if k == 2 {
			label, class = label+" "+unit, "unit"
		}
		text(b, x0+5*dir, ty+3.5, 10, anchor, "#57606a", class, label)
	}
}

// xAxis draws time ticks under a plot, labelled when labels is set.
func xAxis(b *strings.Builder, f frame, y float64, labels bool) {
	durS := f.durMs / 1000
	step := 10.0
	for _, st := range []float64{0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10} {
		if durS/st <= f.w/55 {
			step = st
			break
		}
	}
	fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", f.x0, y, f.x0+f.w, y)
	for t := 0.0; t <= durS+1e-9; t += step {
		x := f.x(t * 1000)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", x, y, x, y+3)
		if labels {
			text(b, x, y+14, 10, "middle", "#57606a", "tick", fmtNum(math.Round(t*100)/100))
		}
	}
	if labels {
		text(b, f.x0+f.w, y+27, 10, "end", "#57606a", "unit", "s since the scene started")
	}
}

// bars draws stacked bars per slot, in units per second.
func bars(b *strings.Builder, f frame, bottom, h, top, slotS float64, layers [][]uint64, colours []string) {
	n := len(layers[0])
	sw := f.w / float64(n)
	// One path per layer: a page of eight scenes holds tens of thousands
	// of bars, which as rects would make it slow to load on a phone.
	paths := make([]strings.Builder, len(layers))
	for i := range n {
		y := bottom
		for l, layer := range layers {
			v := float64(layer[i]) / slotS
			if v <= 0 {
				continue
			}
			bh := min(v/top*h, y-(bottom-h))
			y -= bh
			fmt.Fprintf(&paths[l], "M%.1f %.1fh%.2fv%.1fh%.2fz", f.x0+float64(i)*sw, y, max(sw-0.4, 0.4), bh, -max(sw-0.4, 0.4))
		}
	}
	for l := range paths {
		if paths[l].Len() > 0 {
			fmt.Fprintf(b, "<path fill=\"%s\" d=\"%s\"/>\n", colours[l], paths[l].String())
		}
	}
}

// polyline draws one value per slot, at the slot's middle; points where ok
// is false break the line.
func polyline(b *strings.Builder, f frame, vals []float64, yOf func(float64) float64, ok func(i int) bool, colour, dash string) {
	n := len(vals)
	sw := f.w / float64(n)
	var pts []string
	flush := func() {
		if len(pts) > 0 {
			if len(pts) == 1 {
				pts = append(pts, pts[0])
			}
			fmt.Fprintf(b, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s/>\n", strings.Join(pts, " "), colour, dash)
		}
		pts = nil
	}
	for i, v := range vals {
		if !ok(i) {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", f.x0+(float64(i)+0.5)*sw, yOf(v)))
	}
	flush()
}

// header writes a lane's title and, under it, what it plots; it returns
// the height it took.
func header(b *strings.Builder, x, y float64, title, sub string) float64 {
	text(b, x, y+12, 12, "start", "#1f2328", "title", title)
	text(b, x, y+25, 10, "start", "#57606a", "subtitle", sub)
	return 32
}

// timeline draws a scene's shared lanes, w units wide: events, map
// version, callers (rps, in flight), latency (ms, log scale), and the
// followed tenant's writes.
func timeline(b *strings.Builder, s *SceneResult, w float64) {
	se := &s.Series
	narrow := w < 600
	const left, right = 50.0, 30.0
	f := sceneFrame(s, left, w-left-right)
	slotS := se.SlotWidthMs / 1000
	ev := events(s.Marks)
	var body strings.Builder
	var bands [][2]float64 // the plots, which spans shade and events cross
	y := 4.0
	y += eventLane(&body, ev, f, y)

	// Map version lane.
	y += 6
	text(&body, left-5, y+12, 10, "end", "#57606a", "unit", "map")
	for i := 0; i < se.SlotsCount; {
		j := i
		for j < se.SlotsCount && se.MapVersion[j] == se.MapVersion[i] {
			j++
		}
		x0, x1 := f.x(float64(i)*se.SlotWidthMs), f.x(float64(j)*se.SlotWidthMs)
		fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"#f6f8fa\" stroke=\"#afb8c1\"/>\n", x0, y, x1-x0)
		if x1-x0 >= 24 && se.MapVersion[i] > 0 {
			text(&body, x0+3, y+12, 10, "start", "#1f2328", "version", fmt.Sprintf("v%d", se.MapVersion[i]))
		}
		i = j
	}
	bands = append(bands, [2]float64{y, y + 16})
	y += 16
	for _, sp := range s.Spans {
		x := f.x(sp.FromMs)
		y += 13
		text(&body, x+2, y, 10, "start", spanColour(sp.Kind), "span", sp.Label)
	}

	// Callers' strip.
	const stripH = 110.0
	y += 8
	var okAll, errAll, peakIn uint64
	peak := 1.0
	for i := range se.SlotsCount {
		okAll += se.CallersOKCount[i]
		errAll += se.CallersErrorCount[i]
		peak = max(peak, float64(se.CallersOKCount[i]+se.CallersErrorCount[i])/slotS)
		peakIn = max(peakIn, se.CallersInFlightCount[i])
	}
	ymax, inMax := niceMax(peak), niceMax(float64(max(peakIn, 1)))
	sub := "requests per second, counted when they ended; dashed: requests in flight (right axis) — a stall holds them in flight, then ends in a burst"
	if narrow {
		sub = "rps, counted at their end; dashed: in flight (right)"
	}
	y += header(&body, 0, y, fmt.Sprintf("What the callers got: %d ok, %d errors", okAll, errAll), sub) + 6
	fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f6f8fa\"/>\n", f.x0, y, f.w, stripH)
	bars(&body, f, y+stripH, stripH, ymax, slotS, [][]uint64{se.CallersOKCount, se.CallersErrorCount}, []string{colServed, colFailed})
	inflight := make([]float64, se.SlotsCount)
	for i, v := range se.CallersInFlightCount {
		inflight[i] = float64(v)
	}
	base := y
	polyline(&body, f, inflight, func(v float64) float64 { return base + stripH - v/inMax*stripH }, func(int) bool { return true }, colInFlight, " stroke-dasharray=\"4,2\"")
	yAxis(&body, left, y, stripH, ymax, "rps", false)
	yAxis(&body, left+f.w, y, stripH, inMax, "", true)
	bands = append(bands, [2]float64{y, y + stripH})
	y += stripH

	// Latency lane, log scale from 0.1 ms to the first power of ten over
	// the highest p99.
	const latH = 80.0
	y += 10
	hi := 0.0
	for _, v := range se.CallersP99Ms {
		hi = max(hi, v)
	}
	lo, dec := 0.1, math.Max(1, math.Ceil(math.Log10(max(hi, 1)/0.1)))
	sub = "ms, log scale, of the requests that ended in each slot; a gap is a slot in which none ended"
	if narrow {
		sub = "ms, log scale; a gap: no request ended"
	}
	y += header(&body, 0, y, "Callers' latency: p50 and p99", sub) + 6
	fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f6f8fa\"/>\n", f.x0, y, f.w, latH)
	lbase := y
	yOf := func(v float64) float64 {
		return lbase + latH - math.Log10(max(v, lo)/lo)/dec*latH
	}
	fmt.Fprintf(&body, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", left, y, left, y+latH)
	for k := 0.0; k <= dec; k++ {
		v := lo * math.Pow(10, k)
		ty := yOf(v)
		fmt.Fprintf(&body, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d0d7de\"/>\n", left, ty, left+f.w, ty)
		label, class := fmtNum(v), "tick"
		if k == dec {
			label, class = label+" ms", "unit"
		}
		text(&body, left-5, ty+3.5, 10, "end", "#57606a", class, label)
	}
	has := func(i int) bool { return se.CallersOKCount[i]+se.CallersErrorCount[i] > 0 }
	polyline(&body, f, se.CallersP50Ms, yOf, has, colP50, "")
	polyline(&body, f, se.CallersP99Ms, yOf, has, colP99, "")
	bands = append(bands, [2]float64{y, y + latH})
	y += latH

	if t := se.Tenant; t != nil {
		const th = 70.0
		y += 10
		tpeak := 1.0
		var tok, tref, terr uint64
		for i := range se.SlotsCount {
			tok += t.OKCount[i]
			tref += t.RefusedCount[i]
			terr += t.ErrorCount[i]
			tpeak = max(tpeak, float64(t.OKCount[i]+t.RefusedCount[i]+t.ErrorCount[i])/slotS)
		}
		tmax := niceMax(tpeak)
		y += header(&body, 0, y, fmt.Sprintf("%s's writes: %d ok, %d refused while frozen, %d failed", t.Key, tok, tref, terr),
			"writes per second, counted when they ended") + 6
		fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f6f8fa\"/>\n", f.x0, y, f.w, th)
		bars(&body, f, y+th, th, tmax, slotS, [][]uint64{t.OKCount, t.RefusedCount, t.ErrorCount}, []string{colServed, colFrozen, colFailed})
		yAxis(&body, left, y, th, tmax, "wps", false)
		bands = append(bands, [2]float64{y, y + th})
		y += th
	}
	xAxis(&body, f, y, true)
	y += 32
	svgOpen(b, w, y, s.Title+": timeline")
	b.WriteString(body.String())
	for _, band := range bands {
		shade(b, s.Spans, f, band[0], band[1])
	}
	for _, band := range bands {
		eventLines(b, ev, f, band[0], band[1])
	}
	b.WriteString("</svg>\n")
}

// zoneChart draws one zone's cells: each cell's attempts per second (on one
// scale for the whole scene), and its breaker's state in a lane under them.
func zoneChart(b *strings.Builder, s *SceneResult, zone string) {
	se := &s.Series
	const left, right, panelH = 50.0, 8.0, 70.0
	f := sceneFrame(s, left, zoneW-left-right)
	slotS := se.SlotWidthMs / 1000
	peak := 1.0
	for _, c := range se.Cells {
		for i := range se.SlotsCount {
			peak = max(peak, float64(c.OKCount[i]+c.FailedCount[i]+c.SkippedCount[i])/slotS)
		}
	}
	ymax := niceMax(peak)
	ev := events(s.Marks)
	var body strings.Builder
	y := 4.0
	y += eventLane(&body, ev, f, y)
	var lines [][2]float64
	for ci, c := range se.Cells {
		if c.Zone != zone || ci >= len(s.Cells) {
			continue
		}
		cr := s.Cells[ci]
		where := c.Zone
		for _, k := range slices.Sorted(maps.Keys(cr.Labels)) {
			where += ", " + k + " " + cr.Labels[k]
		}
		y += header(&body, 0, y, fmt.Sprintf("%s (%s): attempts per second", c.ID, where),
			fmt.Sprintf("%d calls, %d failed, %d skipped, %d failover served, p99 %.1f ms", cr.Calls, cr.Failed, cr.Skipped, cr.FailoverServed, cr.P99Ms)) + 4
		fmt.Fprintf(&body, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"#f6f8fa\"/>\n", f.x0, y, f.w, panelH)
		first := make([]uint64, se.SlotsCount)
		for i := range first {
			first[i] = c.OKCount[i] - min(c.FailoverServedCount[i], c.OKCount[i])
		}
		bars(&body, f, y+panelH, panelH, ymax, slotS,
			[][]uint64{first, c.FailoverServedCount, c.FailedCount, c.SkippedCount}, []string{colServed, colFailover, colFailed, colOpen})
		yAxis(&body, left, y, panelH, ymax, "rps", false)
		y += panelH
		text(&body, left-5, y+12, 9, "end", "#57606a", "unit", "breaker")
		breakerLane(&body, s.Marks, c.ID, f, y+6)
		lines = append(lines, [2]float64{y - panelH, y + 12})
		y += 18
	}
	xAxis(&body, f, y, true)
	y += 32
	svgOpen(b, zoneW, y, fmt.Sprintf("%s: zone %s, attempts per cell", s.Title, zone))
	b.WriteString(body.String())
	for _, l := range lines {
		shade(b, s.Spans, f, l[0], l[1])
	}
	for _, l := range lines {
		eventLines(b, ev, f, l[0], l[1])
	}
	b.WriteString("</svg>\n")
}

// breakerLane draws a cell's breaker state over the scene: grey while
// open, light grey while half-open, nothing while closed.
func breakerLane(b *strings.Builder, marks []Mark, id string, f frame, y float64) {
	state, from := "closed", 0.0
	draw := func(to float64) {
		col := ""
		switch state {
		case "open":
			col = colOpen
		case "half-open":
			col = colHalfOpen
		}
		if col != "" {
			x0, x1 := f.x(from), f.x(to)
			fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"6\" fill=\"%s\"><title>breaker %s</title></rect>\n", x0, y, max(x1-x0, 1), col, state)
		}
	}
	for _, m := range marks {
		if m.Kind != "breaker" || m.Cell != id {
			continue
		}
		draw(m.AtMs)
		state, from = m.Label, m.AtMs
	}
	draw(f.durMs)
}

// blastChart draws the measured and expected shares of tenants affected,
// w units wide, with its axis in percent.
func blastChart(b *strings.Builder, bs []BlastRadius, w float64) {
	const rowH, left = 62.0, 8.0
	barW := w - left - 16
	top := 0.0
	for _, x := range bs {
		top = max(top, x.Measured, x.Expected)
	}
	top = niceMax(max(top*1.1, 0.05))
	height := 20 + rowH*float64(len(bs)) + 30
	svgOpen(b, w, height, "blast radius: share of tenants affected")
	for i, x := range bs {
		y := 10 + float64(i)*rowH
		sub := fmt.Sprintf("%s measured, %s expected: %s", pct(x.Measured), pct(x.Expected), x.Law)
		if w < 600 {
			sub = fmt.Sprintf("%s measured, %s expected", pct(x.Measured), pct(x.Expected))
		}
		header(b, left, y-6, x.Case, sub)
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"#f6f8fa\"/>\n", left, y+28, barW)
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>\n", left, y+28, x.Measured/top*barW, colFailed)
		ex := left + x.Expected/top*barW
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" stroke-width=\"2\"/>\n", ex, y+25, ex, y+49)
	}
	ay := 20 + rowH*float64(len(bs))
	fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", left, ay, left+barW, ay)
	for k := 0.0; k <= 4; k++ {
		x := left + k/4*barW
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#57606a\"/>\n", x, ay, x, ay+3)
		anchor := "middle"
		switch k {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		text(b, x, ay+14, 10, anchor, "#57606a", "tick", pct(k/4*top))
	}
	text(b, left+barW, ay+27, 10, "end", "#57606a", "unit", "% of tenants that got an error")
	b.WriteString("</svg>\n")
}
