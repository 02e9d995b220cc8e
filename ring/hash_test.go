package ring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// Published XXH64 vectors (the xxHash reference and cespare/xxhash's tests).
func TestHashPublishedVectors(t *testing.T) {
	const s63 = "Call me Ishmael. Some years ago--never mind how long precisely-"
	for _, tc := range []struct {
		key  string
		seed uint64
		want uint64
	}{
		{"", 0, 0xef46db3751d8e999},
		{"a", 0, 0xd24ec4f1a98c6e5b},
		{"as", 0, 0x1c330fb2d66be179},
		{"asd", 0, 0x631c37ce72a97393},
		{"asdf", 0, 0x415872f599cea71e},
		{s63, 0, 0x02a2e85470d6fd96},
		{"", 123, 0xe0db84de91f3e198},
		{"asdf", math.MaxUint64, 0x9a2fd8473be539b6},
		{s63, 54321, 0x1736d186daf5d1cd},
	} {
		if got := Hash(tc.seed, tc.key); got != tc.want {
			t.Errorf("Hash(%#x, %q) = %#x; want %#x", tc.seed, tc.key, got, tc.want)
		}
	}
}

// TestHashMatchesDigest checks the short-key path against xxhash's streaming
// digest for every length around the 32-byte stripe and random seeds.
func TestHashMatchesDigest(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	buf := make([]byte, 80)
	for n := 0; n <= 80; n++ {
		for range 50 {
			for i := range buf[:n] {
				buf[i] = byte(rng.Uint32())
			}
			seed := rng.Uint64()
			d := xxhash.NewWithSeed(seed)
			d.Write(buf[:n])
			if got, want := Hash(seed, string(buf[:n])), d.Sum64(); got != want {
				t.Fatalf("Hash(%#x, %x) = %#x; want %#x", seed, buf[:n], got, want)
			}
		}
	}
}

func TestHashAllocs(t *testing.T) {
	for _, n := range []int{0, 16, 31, 32, 1024} {
		key := strings.Repeat("x", n)
		if a := testing.AllocsPerRun(100, func() { sink = int(Hash(7, key)) }); a != 0 {
			t.Errorf("Hash of %d bytes: %v allocations; want 0", n, a)
		}
	}
}

func TestJump(t *testing.T) {
	seq := func(key uint64) string {
		var b strings.Builder
		for n := 1; n <= 20; n++ {
			fmt.Fprintf(&b, "%d ", Jump(key, n))
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		key  uint64
		want string
	}{
		{0, "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"},
		{1, "0 0 0 0 0 0 6 6 6 6 6 6 6 6 6 6 6 17 17 17"},
		{0xdeadbeef, "0 1 2 3 3 5 5 5 5 5 5 5 5 5 5 5 16 16 16 16"},
		{0x0ddc0ffeebadf00d, "0 1 2 2 2 2 2 2 2 2 2 2 2 2 2 15 15 15 15 15"},
	} {
		if got := seq(tc.key); got != tc.want {
			t.Errorf("Jump(%#x, 1..20) = %s; want %s", tc.key, got, tc.want)
		}
	}
	// Guava's Hashing.consistentHash(i, 100) for i = 0..19.
	guava := []int{0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83}
	for i, want := range guava {
		if got := Jump(uint64(i), 100); got != want {
			t.Errorf("Jump(%d, 100) = %d; want %d", i, got, want)
		}
	}
	for _, tc := range []struct {
		key     uint64
		n, want int
	}{
		{10863919174838991, 11, 6}, {2016238256797177309, 11, 3}, {1673758223894951030, 11, 5},
		{2, 100001, 80343}, {2201, 100001, 22152}, {2202, 100001, 15018}, {256, 1024, 520},
		{42, 57, 43}, {3735883980, 666, 361}, {16045690984833335023, 255, 237},
	} {
		if got := Jump(tc.key, tc.n); got != tc.want {
			t.Errorf("Jump(%d, %d) = %d; want %d", tc.key, tc.n, got, tc.want)
		}
	}
	for _, n := range []int{-1, 0, 1} {
		if got := Jump(12345, n); got != 0 {
			t.Errorf("Jump(12345, %d) = %d; want 0", n, got)
		}
	}
	if got := Jump(12345, math.MaxInt); got < 0 || got >= 1<<53 {
		t.Errorf("Jump(12345, MaxInt) = %d; want in [0, 2⁵³)", got)
	}
}

// TestJumpMovement: growing n to n+1 moves about 1/(n+1) of keys, all to
// bucket n.
func TestJumpMovement(t *testing.T) {
	const keys = 100_000
	moved := 0
	for i := range keys {
		a, b := Jump(keyHash(i), 100), Jump(keyHash(i), 101)
		if a != b {
			moved++
			if b != 100 {
				t.Fatalf("key %d moved %d → %d; want → 100", i, a, b)
			}
		}
	}
	if f := float64(moved) / keys; f < 0.9/101 || f > 1.1/101 {
		t.Errorf("moved %.4f of keys; want about 1/101", f)
	}
}

func TestReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, d := range []uint64{1, 2, 3, 7, 1000, 16383, 16384, 65521, 1 << 20, 1<<20 - 1} {
		m := ^uint64(0) / d
		for _, h := range []uint64{0, 1, d - 1, d, d + 1, math.MaxUint64, math.MaxUint64 - 1} {
			if got := reduce(h, d, m); got != h%d {
				t.Errorf("reduce(%d, %d) = %d; want %d", h, d, got, h%d)
			}
		}
		for range 10000 {
			h := rng.Uint64()
			if got := reduce(h, d, m); got != h%d {
				t.Fatalf("reduce(%d, %d) = %d; want %d", h, d, got, h%d)
			}
		}
	}
}
