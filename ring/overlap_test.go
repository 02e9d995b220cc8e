package ring

import (
	"math"
	"testing"
)

// TestOverlapFacts checks Overlap against the published table of FACTS.md.
func TestOverlapFacts(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want []float64 // percent, o = 0, 1, ...
		tol  float64   // percentage points
	}{
		{8, 2, []float64{53.571, 42.857, 3.571}, 0.001},
		{8, 3, []float64{17.857, 53.571, 26.786, 1.786}, 0.001},
		{20, 4, []float64{37.564, 46.233, 14.861, 1.321, 0.0206}, 0.001},
		{50, 4, []float64{70.86, 26.37, 2.70, 0.080, 0.00043}, 0.01},
		{100, 5, []float64{76.959, 21.143, 1.838, 0.0593, 0.00063, 0.0000013}, 0.001},
	} {
		sum, mean := 0.0, 0.0
		for o := 0; o <= tc.k; o++ {
			p := Overlap(tc.n, tc.k, o)
			sum += p
			mean += float64(o) * p
			if o < len(tc.want) && math.Abs(100*p-tc.want[o]) > tc.tol {
				t.Errorf("Overlap(%d, %d, %d) = %.7f%%; want %v%%", tc.n, tc.k, o, 100*p, tc.want[o])
			}
		}
		if math.Abs(sum-1) > 1e-15 {
			t.Errorf("Overlap(%d, %d, ·) sums to %v; want 1", tc.n, tc.k, sum)
		}
		if want := float64(tc.k*tc.k) / float64(tc.n); math.Abs(mean-want) > 1e-12 {
			t.Errorf("mean overlap for n=%d k=%d = %v; want k²/n = %v", tc.n, tc.k, mean, want)
		}
	}
	if got, want := Overlap(8, 2, 2), 1.0/28; got != want {
		t.Errorf("Overlap(8, 2, 2) = %v; want exactly 1/28", got)
	}
	for _, bad := range [][3]int{{5, 0, 0}, {5, 6, 1}, {5, 3, 4}, {5, 3, -1}, {5, 3, 0}, {-1, -1, 0}} {
		if got := Overlap(bad[0], bad[1], bad[2]); got != 0 {
			t.Errorf("Overlap%v = %v; want 0", bad, got)
		}
	}
	// The log-gamma path agrees with the exact one where both apply.
	n, k := 20000, 5000
	for o := 1200; o <= 1300; o += 50 {
		exact := Overlap(n, k, o)
		approx := math.Exp(lchoose(k, o) + lchoose(n-k, k-o) - lchoose(n, k))
		if math.Abs(approx-exact) > 1e-9*exact {
			t.Errorf("log-gamma Overlap(%d, %d, %d) = %v; exact %v", n, k, o, approx, exact)
		}
	}
	if p := Overlap(1<<30, 1<<14, 0); !(p > 0 && p < 1) {
		t.Errorf("Overlap(2³⁰, 2¹⁴, 0) = %v; want a probability", p)
	}
}

func TestShardsAndPacking(t *testing.T) {
	for _, tc := range []struct {
		n, k int
		want string
	}{
		{2048, 4, "730862190080"}, {100, 5, "75287520"}, {8, 2, "28"}, {5, 0, "1"}, {5, 6, "0"}, {-1, 2, "0"},
	} {
		if got := Shards(tc.n, tc.k).String(); got != tc.want {
			t.Errorf("Shards(%d, %d) = %s; want %s", tc.n, tc.k, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n, k, m int
		want    string
	}{
		// The bound; the optima are lower for some (5,3,1: 2, as ABC, ADE;
		// 5,4,2: 1; 8,3,1: 8).
		{50, 4, 1, "204"}, {8, 2, 1, "28"}, {5, 3, 1, "3"}, {5, 4, 2, "2"}, {8, 3, 1, "9"},
		{8, 2, 5, "28"}, {5, 0, 1, "0"}, {5, 3, -1, "0"},
	} {
		if got := PackingBound(tc.n, tc.k, tc.m).String(); got != tc.want {
			t.Errorf("PackingBound(%d, %d, %d) = %s; want %s", tc.n, tc.k, tc.m, got, tc.want)
		}
	}
}
