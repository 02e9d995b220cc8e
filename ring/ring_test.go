package ring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func equalMembers(n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("cell-%03d", i), Weight: 1}
	}
	return ms
}

func zonedMembers(n, zones int) []Member {
	ms := equalMembers(n)
	for i := range ms {
		ms[i].Zone = fmt.Sprintf("az%d", i%zones)
	}
	return ms
}

func mustNew(t testing.TB, ms []Member) *Ring {
	t.Helper()
	r, err := New(ms)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// randomMembers draws a ring with mixed zones and weights, zero weights
// included, and at least one positive weight.
func randomMembers(rng *rand.Rand) []Member {
	n := 1 + rng.IntN(40)
	zones := 1 + rng.IntN(6)
	weights := []float64{1, 1, 1, 0, 0.5, 2, 3.25, 1e-3}
	ms := make([]Member, n)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("m%d-%d", i, rng.IntN(1000)), Zone: fmt.Sprintf("z%d", rng.IntN(zones))}
		switch rng.IntN(4) {
		case 0:
			ms[i].Weight = rng.Float64() * 10
		default:
			ms[i].Weight = weights[rng.IntN(len(weights))]
		}
	}
	ms[rng.IntN(n)].Weight = 1
	rng.Shuffle(n, func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	return ms
}

func ids(r *Ring, idx []int) []string {
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = r.Member(x).ID
	}
	return out
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		want    error
	}{
		{"nil", nil, ErrNoMembers},
		{"empty ID", []Member{{ID: "a", Weight: 1}, {ID: "", Weight: 1}}, ErrEmptyID},
		{"duplicate", []Member{{ID: "a", Weight: 1}, {ID: "b", Weight: 1}, {ID: "a", Weight: 2}}, ErrDuplicateID},
		{"NaN", []Member{{ID: "a", Weight: math.NaN()}}, ErrBadWeight},
		{"+Inf", []Member{{ID: "a", Weight: math.Inf(1)}}, ErrBadWeight},
		{"-Inf", []Member{{ID: "a", Weight: math.Inf(-1)}}, ErrBadWeight},
		{"negative", []Member{{ID: "a", Weight: 1}, {ID: "b", Weight: -1}}, ErrBadWeight},
		{"all zero", []Member{{ID: "a"}, {ID: "b"}}, ErrNoWeight},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.members)
			if !errors.Is(err, tc.want) || r != nil {
				t.Fatalf("New(%v) = %v, %v; want nil, %v", tc.members, r, err, tc.want)
			}
		})
	}
	var me *MemberError
	_, err := New([]Member{{ID: "a", Weight: 1}, {ID: "b", Weight: math.NaN()}})
	if !errors.As(err, &me) || me.Index != 1 || me.Member.ID != "b" {
		t.Fatalf("New: %v; want a *MemberError for index 1", err)
	}
	if got := err.Error(); got != `ring: member "b": weight NaN must be finite and not negative` {
		t.Errorf("error text = %q", got)
	}
}

func TestAccessors(t *testing.T) {
	r := mustNew(t, []Member{{ID: "c", Zone: "z2", Weight: 1}, {ID: "a", Zone: "z1", Weight: 0}, {ID: "b", Zone: "z1", Weight: 2}})
	if r.Len() != 3 || r.Eligible() != 2 || r.Zones() != 2 {
		t.Fatalf("Len, Eligible, Zones = %d, %d, %d; want 3, 2, 2", r.Len(), r.Eligible(), r.Zones())
	}
	for i, id := range []string{"a", "b", "c"} {
		if got := r.Member(i).ID; got != id {
			t.Errorf("Member(%d).ID = %q; want %q", i, got, id)
		}
		if got, ok := r.Index(id); !ok || got != i {
			t.Errorf("Index(%q) = %d, %v; want %d, true", id, got, ok, i)
		}
	}
	if _, ok := r.Index("zz"); ok {
		t.Errorf("Index(zz) found a member")
	}
	if m := r.Member(-1); m != (Member{}) {
		t.Errorf("Member(-1) = %v; want zero", m)
	}
	if m := r.Member(3); m != (Member{}) {
		t.Errorf("Member(3) = %v; want zero", m)
	}
}

// TestDifferential checks Owner, Shard and ShardFrom against the naive
// reference on random rings, zero and mixed weights and zones included.
func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf []int
	for ringN := 0; ringN < 400; ringN++ {
		ms := randomMembers(rng)
		r := mustNew(t, ms)
		for q := 0; q < 60; q++ {
			h := rng.Uint64()
			if got, want := r.Member(r.Owner(h)).ID, naiveOwner(ms, h); got != want {
				t.Fatalf("ring %d: Owner(%#x) = %s; want %s", ringN, h, got, want)
			}
			k := rng.IntN(len(ms) + 3)
			buf = r.Shard(h, k, buf)
			if got, want := ids(r, buf), naiveShard(ms, h, nil, k); !slices.Equal(got, want) {
				t.Fatalf("ring %d %v: Shard(%#x, %d) = %v; want %v", ringN, ms, h, k, got, want)
			}
			home := rng.IntN(r.Len())
			hm := r.Member(home)
			var err error
			buf, err = r.ShardFrom(h, home, k, buf)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ids(r, buf), naiveShard(ms, h, &hm, k); !slices.Equal(got, want) {
				t.Fatalf("ring %d %v: ShardFrom(%#x, %s, %d) = %v; want %v", ringN, ms, h, hm.ID, k, got, want)
			}
		}
	}
}

// TestDifferentialWide covers shards larger than the stack scratch and rings
// with many zones.
func TestDifferentialWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range []struct{ n, zones int }{{200, 1}, {200, 3}, {120, 60}, {90, 90}} {
		ms := zonedMembers(shape.n, shape.zones)
		for i := range ms {
			if i%7 == 0 {
				ms[i].Weight = 0.5 + float64(i%3)
			}
		}
		r := mustNew(t, ms)
		for _, k := range []int{2, 3, 5, 17, 40, 89, 150, 250} {
			for q := 0; q < 20; q++ {
				h := rng.Uint64()
				got := ids(r, r.Shard(h, k, nil))
				if want := naiveShard(ms, h, nil, k); !slices.Equal(got, want) {
					t.Fatalf("%v: Shard(%#x, %d) = %v; want %v", shape, h, k, got, want)
				}
			}
		}
	}
}

func TestOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ms := randomMembers(rng)
	for len(ms) < 10 {
		ms = randomMembers(rng)
	}
	a := mustNew(t, ms)
	shuffled := slices.Clone(ms)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := mustNew(t, shuffled)
	for q := 0; q < 2000; q++ {
		h := rng.Uint64()
		if a.Owner(h) != b.Owner(h) {
			t.Fatalf("Owner(%#x) depends on the input order", h)
		}
		if !slices.Equal(a.Shard(h, 5, nil), b.Shard(h, 5, nil)) {
			t.Fatalf("Shard(%#x, 5) depends on the input order", h)
		}
	}
}

func TestShardEdges(t *testing.T) {
	r := mustNew(t, zonedMembers(10, 3))
	for _, k := range []int{-5, 0} {
		if got := r.Shard(7, k, []int{1, 2}); len(got) != 0 {
			t.Errorf("Shard(7, %d) = %v; want empty", k, got)
		}
	}
	if got := r.Shard(7, 1000, nil); len(got) != 10 {
		t.Errorf("len(Shard(7, 1000)) = %d; want 10", len(got))
	}
	for _, home := range []int{-1, 10, 1 << 40} {
		if _, err := r.ShardFrom(7, home, 3, nil); !errors.Is(err, ErrMember) {
			t.Errorf("ShardFrom(7, %d) error = %v; want ErrMember", home, err)
		}
	}
}

func TestExpScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(x uint64) {
		u := float64(x>>12<<1|1) / (1 << 53)
		want := -math.Log(u)
		if got := expScore(x); math.Abs(got-want) > 1e-15*want {
			t.Fatalf("expScore(%#x) = %v; want %v (−ln %v)", x, got, want, u)
		}
		if f := expScoreFloor(x); f > expScore(x) {
			t.Fatalf("expScoreFloor(%#x) = %v > expScore = %v", x, f, expScore(x))
		}
	}
	for i := 0; i < 200000; i++ {
		x := rng.Uint64() >> rng.IntN(64)
		check(x)
	}
	// Monotone: never increases with x, across binade edges in particular.
	var ns []uint64 // odd n = 2·⌊x/2¹²⌋+1 around each binade edge 2^p
	for p := 1; p <= 53; p++ {
		edge := uint64(1) << p
		for _, n := range []uint64{edge - 3, edge - 1, edge + 1, edge + 3} {
			if n < 1<<53 && n%2 == 1 {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	prev := math.Inf(1)
	for _, n := range slices.Compact(ns) {
		e := expScore((n >> 1) << 12)
		if e > prev {
			t.Fatalf("expScore increases at n = %d: %v after %v", n, e, prev)
		}
		prev = e
	}
	for i := 0; i < 200000; i++ {
		a, b := rng.Uint64(), rng.Uint64()
		if a > b {
			a, b = b, a
		}
		if expScore(a) < expScore(b) {
			t.Fatalf("expScore(%#x) < expScore(%#x)", a, b)
		}
	}
	if got := expScore(math.MaxUint64); got <= 0 {
		t.Errorf("expScore(max) = %v; want > 0", got)
	}
}
