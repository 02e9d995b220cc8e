package placement

import (
	_ "embed"
	"slices"
)

//go:embed schema.json
var schema []byte

// Schema returns the JSON Schema (draft 2020-12) of the placement document,
// for control planes and other languages. Parse is stricter than the schema;
// its description says how.
func Schema() []byte { return slices.Clone(schema) }
