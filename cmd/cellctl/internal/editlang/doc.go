// Package editlang is cellctl's edit language: the EDIT words of
// 'cellctl edit' and 'cellctl new' (the help text in cellctl is their
// specification), parsed into Edits and applied to a placement.Builder.
//
// It is a package of its own, importing only the standard library and
// placement, so that FuzzEdit runs in a small binary: go test -fuzz
// instruments every package the test links for coverage, and the counters
// of cellctl's etcd and HTTP dependencies cost more per execution than the
// edit they fuzz.
package editlang
