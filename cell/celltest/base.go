package celltest

import (
	"reflect"

	"github.com/cellkit/cellkit/cell"
)

// withBase returns cfg completed by base: every field cfg leaves at its zero
// value takes base's. A struct field whose fields are all exported (Budget,
// Hedge, Breakers, Observer, …) is completed field by field, so that
// cfg.Hedge.Max set alone keeps base's Hedge.Delay; any other field is taken
// whole. Where the maps come from (Source, and a Follower should the Config
// have one) is never taken from base: a Source delivers each map to one
// client only, and the argument's own origin must not meet another.
//
// It works by reflection so that it covers every field cell.Config has or
// will have, with no list of fields to keep up to date.
func withBase(cfg, base cell.Config) cell.Config {
	b := reflect.ValueOf(&base).Elem()
	for _, name := range [...]string{"Source", "Follower"} { // where the maps come from
		if f := b.FieldByName(name); f.IsValid() && f.CanSet() {
			f.SetZero()
		}
	}
	out := base
	overlay(reflect.ValueOf(&out).Elem(), reflect.ValueOf(cfg))
	return out
}

// overlay sets every field of dst (settable) whose counterpart in src is not
// zero to src's value, recursing into plain structs.
func overlay(dst, src reflect.Value) {
	for i := range dst.NumField() {
		d, s := dst.Field(i), src.Field(i)
		if !dst.Type().Field(i).IsExported() || s.IsZero() {
			continue
		}
		if s.Kind() == reflect.Struct && plainStruct(s.Type()) {
			overlay(d, s)
			continue
		}
		d.Set(s)
	}
}

// plainStruct reports whether every field of struct type t is exported: a
// struct of settings, not a value with hidden state such as time.Time.
func plainStruct(t reflect.Type) bool {
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			return false
		}
	}
	return true
}
