package ring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTableErrors(t *testing.T) {
	r := mustNew(t, equalMembers(3))
	for _, b := range []int{-1, 0, MaxBuckets + 1} {
		if _, err := NewTable(r, b); !errors.Is(err, ErrBuckets) {
			t.Errorf("NewTable(%d) error = %v; want ErrBuckets", b, err)
		}
	}
	if _, err := NewTableOwners(r, nil); !errors.Is(err, ErrBuckets) {
		t.Errorf("NewTableOwners(nil) error = %v; want ErrBuckets", err)
	}
	for _, owners := range [][]int{{0, 3}, {-1}, {0, 1, 2, 99}} {
		if _, err := NewTableOwners(r, owners); !errors.Is(err, ErrOwners) {
			t.Errorf("NewTableOwners(%v) error = %v; want ErrOwners", owners, err)
		}
	}
}

func TestTableLookup(t *testing.T) {
	r := mustNew(t, []Member{{ID: "a", Weight: 1}, {ID: "b", Weight: 0}, {ID: "c", Weight: 2}})
	tab, err := NewTableOwners(r, []int{2, 1, 0, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Buckets() != 5 || tab.Ring() != r {
		t.Fatalf("Buckets, Ring = %d, %p", tab.Buckets(), tab.Ring())
	}
	for h, want := range map[uint64]int{0: 2, 1: 1, 7: 0, 9: 2, math.MaxUint64: 2} {
		if got := tab.Owner(h); got != want {
			t.Errorf("Owner(%d) = %d; want %d", h, got, want)
		}
		if got := tab.Bucket(h); got != int(h%5) {
			t.Errorf("Bucket(%d) = %d; want %d", h, got, h%5)
		}
	}
	if _, ok := tab.BucketOwner(5); ok {
		t.Error("BucketOwner(5) ok; want out of range")
	}
	if got := tab.Owners(); !slices.Equal(got, []int{2, 1, 0, 0, 2}) {
		t.Errorf("Owners() = %v", got)
	}
	if got := tab.Counts(); !slices.Equal(got, []int{2, 1, 2}) {
		t.Errorf("Counts() = %v", got)
	}
	// The rendezvous table is Owner of the bucket hash.
	rt, err := NewTable(r, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 1000 {
		if got, _ := rt.BucketOwner(b); got != r.Owner(BucketHash(b)) {
			t.Fatalf("bucket %d owner %d; want %d", b, got, r.Owner(BucketHash(b)))
		}
	}
	if a := testing.AllocsPerRun(100, func() { sink = tab.Owner(12345) }); a != 0 {
		t.Errorf("Owner allocates %v times; want 0", a)
	}
}

// TestTableWide covers rings too large for two-byte owners.
func TestTableWide(t *testing.T) {
	ms := make([]Member, 70000)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("m%05d", i), Weight: 1}
	}
	r := mustNew(t, ms)
	owners := make([]int, 64)
	for b := range owners {
		owners[b] = 69999 - b
	}
	tab, err := NewTableOwners(r, owners)
	if err != nil {
		t.Fatal(err)
	}
	if tab.narrow != nil || !slices.Equal(tab.Owners(), owners) {
		t.Fatalf("wide table owners = %v", tab.Owners()[:4])
	}
}

// checkPlan asserts Rebalance's contract for the plan from t to next.
func checkPlan(t *testing.T, from *Table, next *Ring, to *Table, moves []Move) {
	t.Helper()
	B := from.Buckets()
	counts := make(map[string]int)
	for b := range B {
		o, _ := from.BucketOwner(b)
		counts[from.Ring().Member(o).ID]++
	}
	var total float64
	for i := range next.Len() {
		total += next.Member(i).Weight
	}
	share := func(id string) float64 {
		if i, ok := next.Index(id); ok {
			return float64(B) * next.Member(i).Weight / total
		}
		return 0
	}
	// Minimal: max(excess above ⌈share⌉, shortfall below ⌊share⌋).
	excess, short := 0, 0
	for id, c := range counts {
		excess += max(0, c-int(math.Ceil(share(id))))
	}
	for i := range next.Len() {
		id := next.Member(i).ID
		short += max(0, int(math.Floor(share(id)))-counts[id])
	}
	if len(moves) != max(excess, short) {
		t.Fatalf("%d moves; want max(%d, %d)", len(moves), excess, short)
	}
	seen := map[int]bool{}
	for _, m := range moves {
		if seen[m.Bucket] {
			t.Fatalf("bucket %d moves twice", m.Bucket)
		}
		seen[m.Bucket] = true
		o, _ := from.BucketOwner(m.Bucket)
		if got := from.Ring().Member(o).ID; got != m.From {
			t.Fatalf("move %v: bucket owned by %s", m, got)
		}
		if n, _ := to.BucketOwner(m.Bucket); to.Ring().Member(n).ID != m.To {
			t.Fatalf("move %v not applied", m)
		}
		if float64(counts[m.From]) <= share(m.From) || float64(counts[m.To]) >= share(m.To) {
			t.Fatalf("move %v from %d (share %.2f) to %d (share %.2f)", m, counts[m.From], share(m.From), counts[m.To], share(m.To))
		}
	}
	for b := range B {
		if !seen[b] {
			o, _ := from.BucketOwner(b)
			n, _ := to.BucketOwner(b)
			if from.Ring().Member(o).ID != to.Ring().Member(n).ID {
				t.Fatalf("bucket %d changed owner without a move", b)
			}
		}
	}
	after := to.Counts()
	for i, c := range after {
		s := share(next.Member(i).ID)
		if float64(c) < math.Floor(s) || float64(c) > math.Ceil(s) {
			t.Fatalf("member %s owns %d buckets; share %.3f", next.Member(i).ID, c, s)
		}
	}
}

func TestRebalance(t *testing.T) {
	base := equalMembers(100)
	r := mustNew(t, base)
	tab, err := NewBalancedTable(r, 16384)
	if err != nil {
		t.Fatal(err)
	}
	if _, moves, _ := tab.Rebalance(r); len(moves) != 0 {
		t.Errorf("rebalancing a balanced table moves %d buckets; want 0", len(moves))
	}
	for _, tc := range []struct {
		name  string
		next  []Member
		onlyT string // every move goes to this member
		onlyF string // every move comes from this member
	}{
		{"add", append(slices.Clone(base), Member{ID: "cell-new", Weight: 1}), "cell-new", ""},
		{"remove", slices.Delete(slices.Clone(base), 50, 51), "", "cell-050"},
		{"zero weight", func() []Member { m := slices.Clone(base); m[7].Weight = 0; return m }(), "", "cell-007"},
		{"double weight", func() []Member { m := slices.Clone(base); m[9].Weight = 2; return m }(), "cell-009", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := mustNew(t, tc.next)
			nt, moves, err := tab.Rebalance(next)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, tab, next, nt, moves)
			for _, m := range moves {
				if tc.onlyT != "" && m.To != tc.onlyT || tc.onlyF != "" && m.From != tc.onlyF {
					t.Fatalf("move %v", m)
				}
			}
			t.Logf("%s: %d moves (ideal about %d)", tc.name, len(moves), 16384/101)
		})
	}
}

// TestRebalanceRandom applies random add, remove and reweight steps and
// checks the contract at every step.
func TestRebalanceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for trial := range 20 {
		ms := equalMembers(1 + rng.IntN(30))
		r := mustNew(t, ms)
		tab, err := NewTable(r, 1+rng.IntN(3000))
		if err != nil {
			t.Fatal(err)
		}
		rebalanceWalk(t, rng, tab, ms, 15, trial*100)
	}
}

// rebalanceWalk mutates the members steps times, rebalancing the table and
// checking the plan's contract after each step. Steps whose members New
// refuses (no positive weight) are skipped.
func rebalanceWalk(t *testing.T, rng *rand.Rand, tab *Table, ms []Member, steps, id int) {
	t.Helper()
	for step := range steps {
		ms = mutate(rng, ms, id+step)
		next, err := New(ms)
		if err != nil {
			continue
		}
		nt, moves, err := tab.Rebalance(next)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, tab, next, nt, moves)
		tab = nt
	}
}

// mutate adds, removes or reweights one member.
func mutate(rng *rand.Rand, ms []Member, id int) []Member {
	ms = slices.Clone(ms)
	switch op := rng.IntN(3); {
	case op == 0 || len(ms) < 2:
		ms = append(ms, Member{ID: fmt.Sprintf("new-%d", id), Weight: float64(rng.IntN(4))})
	case op == 1:
		i := rng.IntN(len(ms))
		ms = slices.Delete(ms, i, i+1)
	default:
		ms[rng.IntN(len(ms))].Weight = rng.Float64() * 3
	}
	return ms
}
