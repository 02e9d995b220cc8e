package bench

import (
	"testing"
	"time"
)

func TestZZDskitTime(t *testing.T) {
	for _, n := range []int{1000, 10000} {
		t0 := time.Now()
		f, err := newDskitFleet(MemberIDs(n), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(n, time.Since(t0))
		f.closer()
	}
}
