package placement

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cellkit/cellkit/ring"
)

// keyIndex holds the override table, found by the key's hash rather than by
// a second hash of the key: Locate has hashed the key and found its bucket
// already. Entries are sorted by bucket, then hash, then key, and off[b] is
// the first entry of bucket b, so a key whose bucket holds no override costs
// two loads, and others a short binary search over hashes. The sort also
// brings duplicates together, and gives two maps of the same seed and
// bucket count the same order, which Diff merges.
type keyIndex struct {
	off  []uint32 // len buckets+1; nil when there are no entries
	hash []uint64
	key  []string
	cell []int32
	// byKey lists the entries in key order, the canonical form's, when it
	// is known without sorting: the document listed its keys in order (as
	// the canonical form does), or a Builder merged edits into such an
	// index. nil otherwise.
	byKey []int32
}

func (x *keyIndex) len() int { return len(x.key) }

// find returns the cell of key, whose hash is h and bucket b.
func (x *keyIndex) find(b int, h uint64, key string) (int32, bool) {
	lo, hi := int(x.off[b]), int(x.off[b+1])
	if lo == hi {
		return 0, false
	}
	// The first entry of the bucket with a hash ≥ h.
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if x.hash[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo; i < len(x.hash) && x.hash[i] == h; i++ {
		if x.key[i] == key {
			return x.cell[i], true
		}
	}
	return 0, false
}

// newKeyIndex indexes keys, key i pinned to cell ref[cells[i]], for a map
// of the given seed and buckets. It returns the position in keys of a
// duplicated key, or −1.
func newKeyIndex(keys []string, cells, ref []int32, seed uint64, t *ring.Table) (keyIndex, int) {
	if len(keys) == 0 {
		return keyIndex{}, -1
	}
	n, buckets := len(keys), t.Buckets()
	x := keyIndex{off: make([]uint32, buckets+1), hash: make([]uint64, n), key: make([]string, n), cell: make([]int32, n)}
	// Hashes in key order first, in x.hash; the bucket of a hash is one
	// multiply away, so it is not kept.
	hash := make([]uint64, n)
	for i, k := range keys {
		h := ring.Hash(seed, k)
		hash[i] = h
		x.off[t.Bucket(h)+1]++
	}
	for b := range buckets {
		x.off[b+1] += x.off[b]
	}
	// A counting sort by bucket, then a sort within each bucket.
	perm := make([]int32, n)
	next := slices.Clone(x.off[:buckets])
	for i, h := range hash {
		b := t.Bucket(h)
		perm[next[b]] = int32(i)
		next[b]++
	}
	byHashKey := func(a, b int32) int { return compareEntries(hash[a], keys[a], hash[b], keys[b]) }
	for b := range buckets {
		if run := perm[x.off[b]:x.off[b+1]]; len(run) > 1 {
			slices.SortFunc(run, byHashKey)
		}
	}
	for j, i := range perm {
		if j > 0 && x.hash[j-1] == hash[i] && x.key[j-1] == keys[i] {
			return keyIndex{}, int(max(i, perm[j-1]))
		}
		x.hash[j], x.key[j], x.cell[j] = hash[i], keys[i], ref[cells[i]]
	}
	// Keys given in increasing order (a canonical document's) give the
	// key order for nothing: perm's inverse.
	inOrder := true
	for i := 1; i < n && inOrder; i++ {
		inOrder = keys[i-1] < keys[i]
	}
	if inOrder {
		x.byKey = make([]int32, n)
		for j, i := range perm {
			x.byKey[i] = int32(j)
		}
	}
	return x, -1
}

// compareEntries is the order of entries within a bucket: by hash, then by
// key. It compares keys only on equal hashes, which almost never happens.
func compareEntries(ha uint64, ka string, hb uint64, kb string) int {
	if ha != hb {
		return cmp.Compare(ha, hb)
	}
	return strings.Compare(ka, kb)
}

// sorted returns the entry positions in key order, for the canonical form.
func (x *keyIndex) sorted() []int32 {
	if x.byKey != nil {
		return x.byKey
	}
	order := make([]int32, len(x.key))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(x.key[a], x.key[b]) })
	return order
}
