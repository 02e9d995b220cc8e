package placement

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// invalidDocs is every kind of bad document Parse must refuse, with the
// sentinel and the field its error must name. The fuzz target starts from
// them too.
var invalidDocs = []struct {
	name  string
	doc   string
	err   error
	field string
}{
	{"empty", ``, ErrSyntax, "document"},
	{"not JSON", `{"version": 1,`, ErrSyntax, "document"},
	{"array", `[1, 2]`, ErrType, "document"},
	{"trailing data", `{"version": 1, "cells": [{"id": "c1"}]} {}`, ErrSyntax, "document"},
	{"unknown field", `{"version": 1, "cells": [{"id": "c1"}], "colour": "red"}`, ErrUnknownField, "colour"},
	{"unknown cell field", `{"version": 1, "cells": [{"id": "c1", "wieght": 2}]}`, ErrUnknownField, "cells[0].wieght"},
	{"unknown endpoint field", `{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "https://a", "port": 1}]}]}`, ErrUnknownField, "cells[0].endpoints[0].port"},
	{"unknown migration field", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": "copying", "eta": 3}]}`, ErrUnknownField, "migrations[0].eta"},
	{"duplicate field", `{"version": 1, "version": 2, "cells": [{"id": "c1"}]}`, ErrDuplicateKey, "version"},
	{"duplicate label", `{"version": 1, "cells": [{"id": "c1", "labels": {"a": "1", "a": "2"}}]}`, ErrDuplicateKey, `cells[0].labels["a"]`},
	{"duplicate override", `{"version": 1, "cells": [{"id": "c1"}], "overrides": {"k": "c1", "k": "c1"}}`, ErrDuplicateKey, `overrides["k"]`},
	{"missing version", `{"cells": [{"id": "c1"}]}`, ErrVersion, "version"},
	{"zero version", `{"version": 0, "cells": [{"id": "c1"}]}`, ErrVersion, "version"},
	{"negative version", `{"version": -3, "cells": [{"id": "c1"}]}`, ErrVersion, "version"},
	{"fractional version", `{"version": 1.5, "cells": [{"id": "c1"}]}`, ErrVersion, "version"},
	{"bad seed", `{"version": 1, "seed": "0xZZ", "cells": [{"id": "c1"}]}`, ErrSeed, "seed"},
	{"seed too big", `{"version": 1, "seed": "0x1ffffffffffffffff", "cells": [{"id": "c1"}]}`, ErrSeed, "seed"},
	{"negative seed", `{"version": 1, "seed": "-1", "cells": [{"id": "c1"}]}`, ErrSeed, "seed"},
	{"numeric seed", `{"version": 1, "seed": 12, "cells": [{"id": "c1"}]}`, ErrSeed, "seed"},
	{"zero buckets", `{"version": 1, "buckets": 0, "cells": [{"id": "c1"}]}`, ErrBuckets, "buckets"},
	{"too many buckets", `{"version": 1, "buckets": 1048577, "cells": [{"id": "c1"}]}`, ErrBuckets, "buckets"},
	{"zero shardSize", `{"version": 1, "shardSize": 0, "cells": [{"id": "c1"}]}`, ErrShardSize, "shardSize"},
	{"shardSize above cells", `{"version": 1, "shardSize": 3, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3", "state": "draining"}]}`, ErrShardSize, "shardSize"},
	{"no cells", `{"version": 1}`, ErrNoEligible, "cells"},
	{"empty cell ID", `{"version": 1, "cells": [{"id": ""}]}`, ErrCellID, "cells[0].id"},
	{"cell ID with space", `{"version": 1, "cells": [{"id": "c 1"}]}`, ErrCellID, "cells[0].id"},
	{"duplicate cell", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c1"}]}`, ErrDuplicateCell, "cells[2].id"},
	{"bad state", `{"version": 1, "cells": [{"id": "c1", "state": "sleeping"}]}`, ErrState, "cells[0].state"},
	{"negative weight", `{"version": 1, "cells": [{"id": "c1", "weight": -1}]}`, ErrWeight, "cells[0].weight"},
	{"infinite weight", `{"version": 1, "cells": [{"id": "c1", "weight": 1e999}]}`, ErrWeight, "cells[0].weight"},
	{"string weight", `{"version": 1, "cells": [{"id": "c1", "weight": "NaN"}]}`, ErrWeight, "cells[0].weight"},
	{"no eligible cell", `{"version": 1, "cells": [{"id": "c1", "weight": 0}, {"id": "c2", "state": "draining"}]}`, ErrNoEligible, "cells"},
	{"relative endpoint", `{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "/v1"}]}]}`, ErrEndpoint, "cells[0].endpoints[0].url"},
	{"ftp endpoint", `{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "ftp://a.b"}]}]}`, ErrEndpoint, "cells[0].endpoints[0].url"},
	{"hostless endpoint", `{"version": 1, "cells": [{"id": "c1", "endpoints": [{"url": "https://"}]}]}`, ErrEndpoint, "cells[0].endpoints[0].url"},
	{"range out of bounds", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "0-10", "cell": "c1"}]}`, ErrTable, "table[0].buckets"},
	{"bad range", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "5-2", "cell": "c1"}]}`, ErrTable, "table[0].buckets"},
	{"range with sign", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "+1-9", "cell": "c1"}]}`, ErrTable, "table[0].buckets"},
	{"overlap", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "0-5", "cell": "c1"}, {"buckets": "5-9", "cell": "c1"}]}`, ErrTable, "table[1].buckets"},
	{"gap", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "0-3", "cell": "c1"}, {"buckets": "5-9", "cell": "c1"}]}`, ErrTable, "table[1].buckets"},
	{"gap at end", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": [{"buckets": "0-8", "cell": "c1"}]}`, ErrTable, "table"},
	{"empty table", `{"version": 1, "buckets": 10, "cells": [{"id": "c1"}], "table": []}`, ErrTable, "table"},
	{"unknown cell in table", `{"version": 1, "buckets": 2, "cells": [{"id": "c1"}], "table": [{"buckets": "0-1", "cell": "c9"}]}`, ErrUnknownCell, "table[0].cell"},
	{"canary in table", `{"version": 1, "buckets": 2, "cells": [{"id": "c1"}, {"id": "c2", "state": "canary"}], "table": [{"buckets": "0", "cell": "c1"}, {"buckets": "1", "cell": "c2"}]}`, ErrCellUse, "table[1].cell"},
	{"unknown cell in overrides", `{"version": 1, "cells": [{"id": "c1"}], "overrides": {"tenant-9": "c9"}}`, ErrUnknownCell, `overrides["tenant-9"]`},
	{"empty override key", `{"version": 1, "cells": [{"id": "c1"}], "overrides": {"": "c1"}}`, ErrKey, `overrides[""]`},
	{"override not a string", `{"version": 1, "cells": [{"id": "c1"}], "overrides": {"k": 3}}`, ErrType, `overrides["k"]`},
	{"unknown cell in migration", `{"version": 1, "cells": [{"id": "c1"}], "migrations": [{"key": "k", "from": "c1", "to": "c9", "phase": "copying"}]}`, ErrUnknownCell, "migrations[0].to"},
	{"migration to itself", `{"version": 1, "cells": [{"id": "c1"}], "migrations": [{"key": "k", "from": "c1", "to": "c1", "phase": "copying"}]}`, ErrMigration, "migrations[0].to"},
	{"bad phase", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": "done"}]}`, ErrMigration, "migrations[0].phase"},
	{"key and buckets", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"key": "k", "buckets": "1", "from": "c1", "to": "c2", "phase": "copying"}]}`, ErrMigration, "migrations[0]"},
	{"neither key nor buckets", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"from": "c1", "to": "c2", "phase": "copying"}]}`, ErrMigration, "migrations[0]"},
	{"migration not from the override", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "overrides": {"k": "c2"}, "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": "copying"}]}`, ErrMigration, "migrations[0].from"},
	{"two key migrations", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}], "overrides": {"k": "c1"}, "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": "copying"}, {"key": "k", "from": "c1", "to": "c3", "phase": "copying"}]}`, ErrConflict, ".key"},
	{"bucket migration, derived table", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2"}], "migrations": [{"buckets": "0-9", "from": "c1", "to": "c2", "phase": "copying"}]}`, ErrMigration, "migrations[0].buckets"},
	{"bucket migration from non-owner", `{"version": 1, "buckets": 4, "cells": [{"id": "c1"}, {"id": "c2"}], "table": [{"buckets": "0-1", "cell": "c1"}, {"buckets": "2-3", "cell": "c2"}], "migrations": [{"buckets": "1-2", "from": "c1", "to": "c2", "phase": "copying"}]}`, ErrMigration, "migrations[0].from"},
	{"overlapping bucket migrations", `{"version": 1, "buckets": 4, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}], "table": [{"buckets": "0-3", "cell": "c1"}], "migrations": [{"buckets": "0-1", "from": "c1", "to": "c2", "phase": "copying"}, {"buckets": "1-2", "from": "c1", "to": "c3", "phase": "copying"}]}`, ErrConflict, ".buckets"},
	{"migration with canary", `{"version": 1, "cells": [{"id": "c1"}, {"id": "c2", "state": "canary"}], "migrations": [{"key": "k", "from": "c1", "to": "c2", "phase": "copying"}]}`, ErrCellUse, "migrations[0]"},
	{"deep nesting", `{"version": 1, "cells": [{"id": "c1", "labels": {"a": [[[[[[[[[[1]]]]]]]]]]}}]}`, ErrType, `cells[0].labels["a"]`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range invalidDocs {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.doc))
			if m != nil || !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%s) = %v, %v; want nil, %v", tc.doc, m, err, tc.err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%s) error %T is not a *FieldError", tc.doc, err)
			}
			if !strings.Contains(fe.Field, tc.field) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Parse(%s) error %q names field %q; want %q", tc.doc, err, fe.Field, tc.field)
			}
			if !strings.HasPrefix(err.Error(), "placement: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	m, err := Parse([]byte(`{"version": 7, "cells": [{"id": "c2"}, {"id": "c1", "zone": "z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 7 || m.Seed() != 0 || m.Buckets() != DefaultBuckets || m.ShardSize() != 1 || m.Explicit() {
		t.Errorf("defaults: version %d seed %d buckets %d shardSize %d explicit %v", m.Version(), m.Seed(), m.Buckets(), m.ShardSize(), m.Explicit())
	}
	c, ok := m.Cell("c1")
	if !ok || c.Weight != 1 || c.State != Active || c.Zone != "z" {
		t.Errorf("Cell(c1) = %+v, %v", c, ok)
	}
	if cells := m.Cells(); len(cells) != 2 || cells[0].ID != "c1" {
		t.Errorf("Cells() = %v; want c1, c2", cells)
	}
	for _, seed := range []string{"12345", "0xABCDEF", "0X10", "18446744073709551615"} {
		if _, err := Parse([]byte(`{"version": 1, "seed": "` + seed + `", "cells": [{"id": "c1"}]}`)); err != nil {
			t.Errorf("seed %s: %v", seed, err)
		}
	}
}

func TestLimits(t *testing.T) {
	doc := []byte(`{"version": 1, "cells": [{"id": "c1", "labels": {"k": "` + strings.Repeat("v", 100) + `"}}], "overrides": {"a": "c1", "b": "c1", "c": "c1"}}`)
	for _, tc := range []struct {
		lim   Limits
		field string
	}{
		{Limits{MaxBytes: 50}, "document"},
		{Limits{MaxOverrides: 2}, "overrides"},
		{Limits{MaxLabelBytes: 50}, "cells[0].labels"},
		{Limits{MaxCells: 0}, ""}, // defaults: accepted
	} {
		_, err := ParseWith(doc, Options{Limits: tc.lim})
		if tc.field == "" {
			if err != nil {
				t.Errorf("limits %+v: %v", tc.lim, err)
			}
			continue
		}
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("limits %+v: error %v; want ErrLimit on %s", tc.lim, err, tc.field)
		}
	}
	var cells []string
	for i := range 11 {
		cells = append(cells, fmt.Sprintf(`{"id": "c%d"}`, i))
	}
	many := `{"version": 1, "cells": [` + strings.Join(cells, ",") + `]}`
	if _, err := ParseWith([]byte(many), Options{Limits: Limits{MaxCells: 10}}); !errors.Is(err, ErrLimit) {
		t.Errorf("11 cells with MaxCells 10: %v; want ErrLimit", err)
	}
	work := `{"version": 1, "buckets": 1048576, "cells": [{"id": "c1"}, {"id": "c2"}, {"id": "c3"}]}`
	if _, err := ParseWith([]byte(work), Options{Limits: Limits{MaxTableWork: 1 << 21}}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "table work") {
		t.Errorf("derived table over the work limit: %v; want ErrLimit", err)
	}
	long := `{"version": 1, "cells": [{"id": "c1"}], "overrides": {"` + strings.Repeat("k", 2000) + `": "c1"}}`
	if _, err := Parse([]byte(long)); err == nil {
		t.Error("a 2000-byte override key was accepted")
	}
}
