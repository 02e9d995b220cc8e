package ring

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

// golden is every answer this package promises to give forever, for fixed
// inputs: hashes, scores, owners, shards and tables. The file was written
// once with -update and only changes with a new document format version.
// CI also checks it on arm64 under qemu.
type golden struct {
	Hashes     []goldenHash     `json:"hashes"`
	BucketHash []string         `json:"bucketHash"` // b = 0..7, 16383, 2²⁰−1
	ExpScore   []string         `json:"expScore"`   // IEEE bits of expScore(x) for goldenX
	Rings      []goldenRing     `json:"rings"`
	Tables     []goldenTable    `json:"tables"`
	Overlap    []string         `json:"overlap"` // IEEE bits of Overlap(20, 4, o)
	Jump       map[string][]int `json:"jump"`
}

type goldenHash struct {
	Seed string `json:"seed"`
	Key  string `json:"key"`
	Hash string `json:"hash"`
}

type goldenRing struct {
	Name      string     `json:"name"`
	Owners    []string   `json:"owners"`    // Owner of key-0..key-199
	Shards    [][]string `json:"shards"`    // Shard(h, 3)
	ShardFrom [][]string `json:"shardFrom"` // ShardFrom(h, i mod n, 4)
}

type goldenTable struct {
	Name   string `json:"name"`
	Digest string `json:"digest"` // XXH64 of the owners' IDs, one a line
	Head   []int  `json:"head"`   // owners of the first 32 buckets
}

var goldenX = []uint64{0, 1, 1 << 12, 1<<63 - 1, 1 << 63, math.MaxUint64, 0x9e3779b97f4a7c15, 0x0123456789abcdef}

func goldenRings() map[string][]Member {
	mixed := []Member{
		{"c-a", "az1", 1}, {"c-b", "az1", 2}, {"c-c", "az2", 0.5}, {"c-d", "az2", 0}, {"c-e", "az3", 1},
		{"c-f", "az3", 1}, {"c-g", "az1", 3.25}, {"c-h", "az2", 1}, {"c-i", "az3", 0}, {"c-j", "az1", 1},
		{"c-k", "az2", 1e-3}, {"c-l", "az3", 7},
	}
	large := zonedMembers(100, 4)
	for i := range large {
		large[i].Weight = float64(1 + i%4)
	}
	return map[string][]Member{"equal10": equalMembers(10), "mixed12": mixed, "zoned100": large}
}

func computeGolden(t *testing.T) golden {
	var g golden
	utf8 := "テナント-🚀-über"
	kib := strings.Repeat("0123456789abcdef", 64)
	keys := []string{"", "a", "tenant-42", utf8, kib}
	for n := 1; n <= 40; n++ {
		keys = append(keys, kib[:n])
	}
	for _, seed := range []uint64{0, testSeed} {
		for _, k := range keys {
			g.Hashes = append(g.Hashes, goldenHash{fmt.Sprintf("%#x", seed), k, fmt.Sprintf("%#016x", Hash(seed, k))})
		}
	}
	for _, b := range []int{0, 1, 2, 3, 4, 5, 6, 7, 16383, MaxBuckets - 1} {
		g.BucketHash = append(g.BucketHash, fmt.Sprintf("%#016x", BucketHash(b)))
	}
	for _, x := range goldenX {
		g.ExpScore = append(g.ExpScore, fmt.Sprintf("%#016x", math.Float64bits(expScore(x))))
	}
	for o := range 5 {
		g.Overlap = append(g.Overlap, fmt.Sprintf("%#016x", math.Float64bits(Overlap(20, 4, o))))
	}
	g.Jump = map[string][]int{}
	for _, n := range []int{1, 7, 100, 100001} {
		for i := range 16 {
			g.Jump[fmt.Sprint(n)] = append(g.Jump[fmt.Sprint(n)], Jump(keyHash(i), n))
		}
	}
	rings := goldenRings()
	for _, name := range []string{"equal10", "mixed12", "zoned100"} {
		r := mustNew(t, rings[name])
		gr := goldenRing{Name: name}
		for i := range 200 {
			h := Hash(testSeed, fmt.Sprintf("key-%d", i))
			gr.Owners = append(gr.Owners, r.Member(r.Owner(h)).ID)
			gr.Shards = append(gr.Shards, ids(r, r.Shard(h, 3, nil)))
			from, err := r.ShardFrom(h, i%r.Len(), 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			gr.ShardFrom = append(gr.ShardFrom, ids(r, from))
		}
		g.Rings = append(g.Rings, gr)
		for _, kind := range []string{"rendezvous", "balanced"} {
			build := NewTable
			if kind == "balanced" {
				build = NewBalancedTable
			}
			tab, err := build(r, 16384)
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			for _, o := range tab.Owners() {
				sb.WriteString(r.Member(o).ID)
				sb.WriteByte('\n')
			}
			gt := goldenTable{Name: name + "/" + kind + "/16384", Digest: fmt.Sprintf("%#016x", Hash(0, sb.String())), Head: tab.Owners()[:32]}
			g.Tables = append(g.Tables, gt)
		}
	}
	return g
}

func TestGolden(t *testing.T) {
	t.Parallel()
	got := computeGolden(t)
	path := "testdata/golden.json"
	if *update {
		data, err := json.MarshalIndent(got, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want golden
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) == string(wantJSON) {
		return
	}
	// Name the first difference of each kind.
	for i := range min(len(got.Hashes), len(want.Hashes)) {
		if got.Hashes[i] != want.Hashes[i] {
			t.Errorf("Hash(%s, %q) = %s; want %s", want.Hashes[i].Seed, want.Hashes[i].Key, got.Hashes[i].Hash, want.Hashes[i].Hash)
			break
		}
	}
	diff := func(name string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s differs from testdata/golden.json:\n got %.300s\nwant %.300s", name, ja, jb)
		}
	}
	diff("BucketHash", got.BucketHash, want.BucketHash)
	diff("expScore", got.ExpScore, want.ExpScore)
	diff("Overlap", got.Overlap, want.Overlap)
	diff("Jump", got.Jump, want.Jump)
	for i := range min(len(got.Rings), len(want.Rings)) {
		diff("ring "+want.Rings[i].Name+" owners", got.Rings[i].Owners, want.Rings[i].Owners)
		diff("ring "+want.Rings[i].Name+" shards", got.Rings[i].Shards, want.Rings[i].Shards)
		diff("ring "+want.Rings[i].Name+" shardFrom", got.Rings[i].ShardFrom, want.Rings[i].ShardFrom)
	}
	diff("tables", got.Tables, want.Tables)
	t.Errorf("golden answers changed (arch %d-bit little-endian=%v)", 32<<(^uint(0)>>63), binary.NativeEndian.Uint16([]byte{1, 0}) == 1)
}
