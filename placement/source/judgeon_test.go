package source

import (
	"testing"

	"github.com/cellkit/cellkit/placement"
)

// JudgeOn holds a plain Holder's map and counts nothing; on a Follower it
// is Follower.Judge. Neither allocates.
func TestJudgeOnHolder(t *testing.T) {
	m, err := placement.Parse([]byte(`{"version": 3, "cells": [{"id": "c1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	j := JudgeOn(Fixed(m))
	if j.Map() != m {
		t.Fatalf("JudgeOn(Fixed(m)).Map() = %v; want m", j.Map())
	}
	j.Done() // counts nothing: must not panic
	if j := JudgeOn(HolderFunc(func() *placement.Map { return nil })); j.Map() != nil {
		t.Fatalf("JudgeOn of a holder without a map = %v; want nil", j.Map())
	}
	f, err := NewFollower(FollowerConfig{Source: NewStatic(m)})
	if err != nil {
		t.Fatal(err)
	}
	if j := JudgeOn(f); j.Map() != nil {
		t.Fatalf("JudgeOn(a Follower before its first map).Map() = %v; want nil", j.Map())
	}
	h := Fixed(m)
	if n := testing.AllocsPerRun(100, func() { JudgeOn(h).Done() }); n != 0 {
		t.Errorf("JudgeOn allocates %v times", n)
	}
}
