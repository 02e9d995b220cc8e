package placement

import (
	"errors"
	"strings"
	"testing"
)

// TestIdentifiersExact: a zone, endpoint zone, label key or cell ID with a
// leading or trailing blank (any Unicode White_Space) would be a look-alike
// of another name: "z1 " a fourth zone beside "z1". Parse and the Builder
// refuse it with ErrSpace, naming the field.
func TestIdentifiersExact(t *testing.T) {
	for _, blank := range []string{" ", "\\t", "\\n", "\\u00a0", "\\u2003", "\\u3000", "\\u0085", "\\u2028"} {
		for _, tc := range []struct{ cell, field string }{
			{`{"id": "c3", "zone": "z1` + blank + `"}`, "cells[2].zone"},
			{`{"id": "c3", "zone": "` + blank + `z1"}`, "cells[2].zone"},
			{`{"id": "c3", "endpoints": [{"url": "https://c3.internal", "zone": "z1` + blank + `"}]}`, "cells[2].endpoints[0].zone"},
			{`{"id": "c3", "labels": {"wave` + blank + `": "1"}}`, "cells[2].labels["},
			{`{"id": "c3` + blank + `"}`, "cells[2].id"},
			{`{"id": "` + blank + `c3"}`, "cells[2].id"},
		} {
			doc := `{"version": 1, "cells": [{"id": "c1", "zone": "z1"}, {"id": "c2", "zone": "z2"}, ` + tc.cell + `]}`
			_, err := Parse([]byte(doc))
			var fe *FieldError
			if !errors.Is(err, ErrSpace) || !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, tc.field) {
				t.Errorf("Parse(%s) = %v; want ErrSpace at %s", doc, err, tc.field)
			}
		}
	}
	// Inner blanks and other characters are names like any other.
	m := mustParse(t, `{"version": 1, "cells": [{"id": "c1", "zone": "us east 1", "labels": {"a b": " v "}}]}`)
	if z, _ := m.CellZone("c1"); z != "us east 1" {
		t.Errorf("zone %q", z)
	}

	// The Builder applies the same rule.
	b := NewBuilder(mustParse(t, fleetDoc(3, "")))
	for name, err := range map[string]error{
		"AddCell zone":   b.AddCell(Cell{ID: "n1", Zone: "az1 ", Weight: 1}),
		"AddCell ID":     b.AddCell(Cell{ID: " n1", Weight: 1}),
		"SetZone":        b.SetZone("c00", "\u00a0az1"),
		"SetEndpoints":   b.SetEndpoints("c00", []Endpoint{{URL: "https://c00.internal", Zone: "az1\t"}}),
		"SetLabels":      b.SetLabels("c00", map[string]string{" wave": "1"}),
		"AddCell labels": b.AddCell(Cell{ID: "n2", Weight: 1, Labels: map[string]string{"wave\u2003": "1"}}),
	} {
		if !errors.Is(err, ErrSpace) {
			t.Errorf("%s: %v; want ErrSpace", name, err)
		}
	}
}

// TestDuplicateCellAtDuplicate: the error names the duplicate's index, and
// the first cell with that ID.
func TestDuplicateCellAtDuplicate(t *testing.T) {
	_, err := Parse([]byte(`{"version": 1, "cells": [{"id": "c0"}, {"id": "c1"}, {"id": "c2"}, {"id": "c1"}, {"id": "c0"}]}`))
	var fe *FieldError
	if !errors.Is(err, ErrDuplicateCell) || !errors.As(err, &fe) || fe.Field != "cells[3].id" || !strings.Contains(err.Error(), "cells[1]") {
		t.Errorf("duplicate cell: %v; want ErrDuplicateCell at cells[3].id naming cells[1]", err)
	}
}

// TestAddCellWeightZero: a Cell's zero Weight cannot mean both the
// document's default (1) and weight 0, so AddCell refuses it with an error
// that says so, at the cell's weight, instead of taking 0 and failing at
// Build with "no active cell with positive weight". A weight of 0 is given
// with SetWeight.
func TestAddCellWeightZero(t *testing.T) {
	b := NewBuilder(nil)
	err := b.AddCell(Cell{ID: "c1", Zone: "z1"})
	var fe *FieldError
	if !errors.Is(err, ErrWeight) || !errors.As(err, &fe) || fe.Field != `cells["c1"].weight` || !strings.Contains(err.Error(), "default is 1") {
		t.Fatalf("AddCell without a weight: %v", err)
	}
	if _, err := b.Build(); errors.Is(err, ErrWeight) || err == nil {
		t.Fatalf("the refused cell is in the draft: %v", err)
	}
	if err := b.AddCell(Cell{ID: "c1", Zone: "z1", Weight: DefaultWeight}); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(b.AddCell(Cell{ID: "c2", Zone: "z2", Weight: 1}), b.SetWeight("c2", 0)); err != nil {
		t.Fatal(err)
	}
	m := mustBuild(t, b)
	// What the Builder built is what the document says: c1 of the
	// default weight (written out), c2 of weight 0.
	doc := mustParse(t, `{"version": 1, "cells": [{"id": "c1", "zone": "z1"}, {"id": "c2", "zone": "z2", "weight": 0}]}`)
	if mustMarshal(t, m) != mustMarshal(t, doc) {
		t.Errorf("Builder and document disagree:\n%s\n%s", m.Bytes(), doc.Bytes())
	}
}
