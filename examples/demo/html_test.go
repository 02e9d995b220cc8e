package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

// checkHTML checks, in one pass over the page, that it is well-formed, has
// want SVG charts, no script, no event handler attribute and no reference
// to anything outside itself; and what makes it readable on a 390 px phone
// and a 1280 px screen: a viewport meta, charts that scale to their box (a
// viewBox, no fixed width or height) and CSS that makes them do so and
// stacks the zone columns on narrow screens; that every chart has axis
// labels with units, every scene states what it carried over, and the
// legend and the glossary (with "accepted") are there.
func checkHTML(t *testing.T, page []byte, want int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = true
	var (
		viewport bool
		svgs     int
		inSVG    bool
		label    string
		classes  map[string]int
		inClass  string
		style    strings.Builder
		inStyle  bool
		carried  int
		h2       int
		depth    int
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the HTML report is not well-formed: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			depth++
			switch strings.ToLower(e.Name.Local) {
			case "script", "iframe", "object", "embed", "link", "img":
				t.Errorf("the HTML report has a <%s> element", e.Name.Local)
			}
			for _, a := range e.Attr {
				name := strings.ToLower(a.Name.Local)
				if strings.HasPrefix(name, "on") || name == "src" || name == "href" {
					t.Errorf("the HTML report has attribute %s=%q on <%s>", a.Name.Local, a.Value, e.Name.Local)
				}
			}
			attr := func(name string) (string, bool) {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value, true
					}
				}
				return "", false
			}
			switch e.Name.Local {
			case "meta":
				if n, _ := attr("name"); n == "viewport" {
					c, _ := attr("content")
					viewport = strings.Contains(c, "width=device-width")
				}
			case "style":
				inStyle = true
			case "p":
				if c, _ := attr("class"); c == "carried" {
					carried++
				}
			case "h2":
				h2++
			case "svg":
				svgs++
				inSVG, classes = true, make(map[string]int)
				label, _ = attr("aria-label")
				if vb, ok := attr("viewBox"); !ok || !regexp.MustCompile(`^0 0 \d+ \d+$`).MatchString(vb) {
					t.Errorf("chart %q: viewBox %q; want 0 0 w h", label, vb)
				}
				for _, a := range []string{"width", "height"} {
					if v, ok := attr(a); ok && !strings.HasSuffix(v, "%") {
						t.Errorf("chart %q has a fixed %s=%q", label, a, v)
					}
				}
			case "text":
				inClass, _ = attr("class")
			}
		case xml.CharData:
			if inStyle {
				style.Write(e)
			}
			if inSVG && inClass != "" && strings.TrimSpace(string(e)) != "" {
				classes[inClass]++
			}
		case xml.EndElement:
			depth--
			switch e.Name.Local {
			case "style":
				inStyle = false
			case "text":
				inClass = ""
			case "svg":
				inSVG = false
				if classes["tick"] < 2 || classes["unit"] < 1 {
					t.Errorf("chart %q: %d tick labels, %d unit labels; want axes with ticks and units", label, classes["tick"], classes["unit"])
				}
			}
		}
	}
	if depth != 0 {
		t.Errorf("the HTML report leaves %d elements open", depth)
	}
	if svgs != want {
		t.Errorf("the HTML report has %d SVG charts; want %d", svgs, want)
	}
	low := strings.ToLower(string(page))
	for _, s := range []string{"http://", "https://", "url(", "@import", "<script"} {
		if strings.Contains(low, s) {
			t.Errorf("the HTML report contains %q", s)
		}
	}
	if !viewport {
		t.Error("the HTML report has no viewport meta with width=device-width")
	}
	css := style.String()
	for _, rule := range []string{
		`svg { display: block; width: 100%; max-width: 100%; height: auto;`,
		`@media (max-width: 700px)`,
		`.zones { grid-template-columns: 1fr; }`,
	} {
		if !strings.Contains(css, rule) {
			t.Errorf("the report's CSS lacks %q", rule)
		}
	}
	scenes := h2 - 2 // "How to read the charts" and "Blast radius"
	if carried != scenes {
		t.Errorf("%d scenes state what they carried over; want all %d", carried, scenes)
	}
	for _, s := range []string{"<dt>accepted</dt>", `class="legend"`, "counted when they ended"} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("the HTML report lacks %q", s)
		}
	}
}

// TestHTMLLayout checks a page rendered from a fake report: a scene's
// timeline twice (wide, narrow), a chart per zone, and the blast radius
// twice.
func TestHTMLLayout(t *testing.T) {
	for _, withMarks := range []bool{false, true} {
		page := renderHTML(fakeReport(withMarks))
		checkHTML(t, page, 2+numZones+2)
	}
}

// TestEventLane checks that event numbers close in time are moved to
// another row instead of overlapping, and stay off the plot.
func TestEventLane(t *testing.T) {
	var b strings.Builder
	f := frame{x0: 0, w: 400, durMs: 1000}
	ev := []Mark{{AtMs: 100}, {AtMs: 101}, {AtMs: 102}, {AtMs: 500}}
	h := eventLane(&b, ev, f, 0)
	re := regexp.MustCompile(`<circle cx="([0-9.]+)" cy="([0-9.]+)"`)
	ms := re.FindAllStringSubmatch(b.String(), -1)
	if len(ms) != 4 {
		t.Fatalf("%d event circles; want 4", len(ms))
	}
	seen := map[[2]string]bool{}
	for _, m := range ms {
		k := [2]string{m[1], m[2]}
		if seen[k] {
			t.Errorf("two events drawn at %v", k)
		}
		seen[k] = true
	}
	if h < 3*15 {
		t.Errorf("lane height %v for three events at once; want three rows", h)
	}
}
