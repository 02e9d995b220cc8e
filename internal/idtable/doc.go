// Package idtable is the one lookup table of cell IDs that breaker and cell
// share: a cell's breaker (breaker.Set.Available) and a cell's route
// (cell's route table) are found by ID on every request, in a few
// nanoseconds, where a Go map with string keys costs two to three times
// that.
//
// An ID of up to 16 bytes (every realistic cell ID) is reduced to two words
// that, with its length, determine it: a lookup hashes and compares those
// words and never touches the ID's bytes again. Longer IDs are folded into
// the two words and compared in full.
//
// A Table is built once and then read without a lock by any number of
// goroutines; callers that change their set of cells build a new one.
package idtable
