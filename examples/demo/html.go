package main

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// renderHTML writes the report as one self-contained, well-formed page:
// inline SVG charts, inline CSS, no script and no external asset.
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
<title>cellkit demo report</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.ok { color: #1a7f37; } .fail { color: #cf222e; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 2px 8px; text-align: right; }
th { border-bottom: 1px solid #999; } td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
ul.checks { list-style: none; padding-left: 0; } svg { display: block; margin: 0.5em 0; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; }
</style>
</head>
<body>
`)
	fmt.Fprintf(&b, "<h1>cellkit demo</h1>\n<p>%d cells in %d zones, %d tenants, one process on loopback; %s (%.1f s%s).</p>\n",
		rep.Cells, rep.Zones, rep.Tenants, esc(verdict), rep.Seconds, map[bool]string{true: ", -quick"}[rep.Quick])
	b.WriteString(`<p class="legend">Charts: each cell's calls from the client over time:` +
		`<span style="background:#2da44e"></span>served` +
		`<span style="background:#cf222e"></span>failed` +
		`<span style="background:#d4a72c"></span>skipped (breaker open)` +
		`; the bottom strip is what the callers got. Dashed lines are the scene's events.</p>` + "\n")
	for _, s := range rep.Scenes {
		cls, word := "ok", "met"
		if !s.OK {
			cls, word = "fail", "missed"
		}
		fmt.Fprintf(&b, "<h2>%d. %s <span class=\"%s\">(expectation %s)</span></h2>\n<p>%s</p>\n", s.N, esc(s.Title), cls, word, esc(s.Headline))
		sceneChart(&b, s)
		b.WriteString("<table>\n<tr><th>cell</th><th>zone</th><th>calls</th><th>failed</th><th>skipped</th><th>accepted</th><th>breaker</th></tr>\n")
		for _, c := range s.Cells {
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td></tr>\n",
				esc(c.ID), esc(c.Zone), c.Calls, c.Failed, c.Skipped, c.Accepted, esc(c.Breaker))
		}
		b.WriteString("</table>\n")
		fmt.Fprintf(&b, "<p>requests %d, errors %d (%s), tenants affected %d of %d (%s), misrouted accepted %d</p>\n",
			s.Requests, s.Errors, pct(s.ErrorRate), s.TenantsAffected, s.TenantsSeen, pct(s.AffectedShare), s.Misrouted)
		b.WriteString("<ul class=\"checks\">\n")
		for _, c := range s.Checks {
			mark, cls := "✓", "ok"
			if !c.OK {
				mark, cls = "✗", "fail"
			}
			fmt.Fprintf(&b, "<li><span class=\"%s\">%s</span> %s: %s</li>\n", cls, mark, esc(c.What), esc(c.Got))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("<h2>Blast radius</h2>\n<p>The share of tenants that got errors, measured (bar) and expected (black line).</p>\n")
	blastChart(&b, rep.Blast)
	b.WriteString("</body>\n</html>\n")
	return []byte(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

const (
	chartW  = 960
	panelW  = 300
	panelH  = 90
	panelGX = 30
	panelGY = 34
	marginT = 24
)

// sceneChart draws one SVG: a panel per cell (a column per zone) and the
// callers' strip, with the scene's marks.
func sceneChart(b *strings.Builder, s *SceneResult) {
	rec := s.rec
	if rec == nil {
		return
	}
	n := min(rec.slotAt(secondsToDuration(s.Seconds))+1, rec.nslots)
	n = max(n, 1)
	rows := numCells / numZones
	strips := 1
	if rec.tenant != "" {
		strips++
	}
	height := marginT + (rows+strips)*(panelH+panelGY) + 10
	fmt.Fprintf(b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">\n",
		chartW, height, chartW, height, esc(s.Title+": calls per cell over time"))
	b.WriteString("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n")
	var peak uint64 = 1
	for c := range numCells {
		for i := range n {
			peak = max(peak, rec.ok[c][i].Load()+rec.failed[c][i].Load()+rec.skipped[c][i].Load())
		}
	}
	slotW := float64(panelW) / float64(n)
	xOf := func(px float64, atMs float64) float64 {
		return px + atMs/ms(rec.slot)*slotW
	}
	for c := range numCells {
		col, row := c/rows, c%rows
		px := float64(col * (panelW + panelGX))
		py := float64(marginT + row*(panelH+panelGY))
		cs := s.Cells[c]
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s · %s · %d calls, %d failed, %d skipped</text>\n",
			px, py-6, esc(cs.ID), esc(cs.Zone), cs.Calls, cs.Failed, cs.Skipped)
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\n", px, py, panelW, panelH)
		for i := range n {
			ok, fl, sk := rec.ok[c][i].Load(), rec.failed[c][i].Load(), rec.skipped[c][i].Load()
			stack(b, px+float64(i)*slotW, py+panelH, slotW, float64(panelH)/float64(peak),
				[]uint64{ok, fl, sk}, []string{"#2da44e", "#cf222e", "#d4a72c"})
		}
		for _, m := range s.Marks {
			if m.Kind == "breaker" && m.Cell == cs.ID {
				x := xOf(px, m.AtMs)
				fmt.Fprintf(b, "<path d=\"M%.1f %.1f l-4 -7 h8 z\" fill=\"#6e7781\"/>\n", x, py+1)
				fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#57606a\">%s</text>\n", x+3, py+12, esc(m.Label))
			}
		}
		marks(b, s.Marks, px, py, xOf)
	}
	// The callers' strip, full width.
	py := float64(marginT + rows*(panelH+panelGY))
	var upeak uint64 = 1
	var okAll, errAll uint64
	for i := range n {
		okAll += rec.userOK[i].Load()
		errAll += rec.userErr[i].Load()
		upeak = max(upeak, rec.userOK[i].Load()+rec.userErr[i].Load())
	}
	w := float64(chartW)
	fmt.Fprintf(b, "<text x=\"0\" y=\"%.1f\" font-size=\"12\">what the callers got: %d ok, %d errors</text>\n", py-6, okAll, errAll)
	fmt.Fprintf(b, "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\n", py, chartW, panelH)
	uw := w / float64(n)
	for i := range n {
		stack(b, float64(i)*uw, py+panelH, uw, float64(panelH)/float64(upeak),
			[]uint64{rec.userOK[i].Load(), rec.userErr[i].Load()}, []string{"#2da44e", "#cf222e"})
	}
	marks(b, s.Marks, 0, py, func(_ float64, atMs float64) float64 { return atMs / ms(rec.slot) * uw })
	if rec.tenant != "" {
		py += panelH + panelGY
		var tpeak, tok, tref, terr uint64 = 1, 0, 0, 0
		for i := range n {
			tok += rec.tenantOK[i].Load()
			tref += rec.tenantRef[i].Load()
			terr += rec.tenantErr[i].Load()
			tpeak = max(tpeak, rec.tenantOK[i].Load()+rec.tenantRef[i].Load()+rec.tenantErr[i].Load())
		}
		fmt.Fprintf(b, "<text x=\"0\" y=\"%.1f\" font-size=\"12\">%s's writes: %d ok, %d refused while frozen (amber), %d failed</text>\n",
			py-6, esc(rec.tenant), tok, tref, terr)
		fmt.Fprintf(b, "<rect x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\n", py, chartW, panelH)
		for i := range n {
			stack(b, float64(i)*uw, py+panelH, uw, float64(panelH)/float64(tpeak),
				[]uint64{rec.tenantOK[i].Load(), rec.tenantRef[i].Load(), rec.tenantErr[i].Load()},
				[]string{"#2da44e", "#d4a72c", "#cf222e"})
		}
		marks(b, s.Marks, 0, py, func(_ float64, atMs float64) float64 { return atMs / ms(rec.slot) * uw })
	}
	// Labels of the marks, once, under the last strip.
	ly := py + panelH + 14
	x := 0.0
	k := 0
	for _, m := range s.Marks {
		if m.Kind == "breaker" {
			continue
		}
		k++
		label := fmt.Sprintf("%d: %s at %.1f s", k, m.Label, m.AtMs/1000)
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#57606a\">%s</text>\n", x, ly, esc(label))
		x += float64(len(label))*6 + 16
		if x > w-150 {
			x, ly = 0, ly+13
		}
	}
	fmt.Fprintf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#57606a\" text-anchor=\"end\">%.1f s</text>\n", chartW, py+panelH+26, s.Seconds)
	b.WriteString("</svg>\n")
}

// marks draws the scene's events as numbered dashed lines over one panel.
func marks(b *strings.Builder, ms []Mark, px, py float64, xOf func(float64, float64) float64) {
	k := 0
	for _, m := range ms {
		if m.Kind == "breaker" {
			continue
		}
		k++
		x := xOf(px, m.AtMs)
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#24292f\" stroke-dasharray=\"3,3\"/>\n", x, py, x, py+panelH)
		fmt.Fprintf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\">%d</text>\n", x+2, py+panelH-3, k)
	}
}

// stack draws one slot's bar: the values stacked from the bottom.
func stack(b *strings.Builder, x, bottom, w, scale float64, vals []uint64, colors []string) {
	y := bottom
	for i, v := range vals {
		if v == 0 {
			continue
		}
		h := float64(v) * scale
		y -= h
		fmt.Fprintf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>\n", x, y, max(w-0.5, 0.5), h, colors[i])
	}
}

// blastChart draws the measured and expected shares of tenants affected.
func blastChart(b *strings.Builder, bs []BlastRadius) {
	const rowH, labelW, barW = 42, 260, 420
	height := 30 + rowH*len(bs)
	top := 0.0
	for _, x := range bs {
		top = max(top, x.Measured, x.Expected)
	}
	top = max(top*1.15, 0.05)
	fmt.Fprintf(b, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"blast radius\">\n", chartW, height, chartW, height)
	b.WriteString("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n")
	for i, x := range bs {
		y := float64(10 + i*rowH)
		fmt.Fprintf(b, "<text x=\"0\" y=\"%.1f\" font-size=\"13\">%s</text>\n", y+16, esc(x.Case))
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"22\" fill=\"#f6f8fa\" stroke=\"#d0d7de\"/>\n", labelW, y, barW)
		fmt.Fprintf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"22\" fill=\"#cf222e\"/>\n", labelW, y, x.Measured/top*barW)
		ex := float64(labelW) + x.Expected/top*barW
		fmt.Fprintf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\" stroke-width=\"2\"/>\n", ex, y-3, ex, y+25)
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\">%s measured, %s expected</text>\n", labelW+barW+8, y+10, pct(x.Measured), pct(x.Expected))
		fmt.Fprintf(b, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#57606a\">%s</text>\n", labelW+barW+8, y+24, esc(x.Law))
	}
	b.WriteString("</svg>\n")
}

func secondsToDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
