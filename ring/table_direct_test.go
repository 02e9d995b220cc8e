package ring

import (
	"fmt"
	"testing"
)

// TestNewTableDirect: the tables of small rings of equal weights, whose
// owners NewTable finds without the sieve, are Owner's, bucket for bucket.
func TestNewTableDirect(t *testing.T) {
	for n := 1; n <= directOwners+1; n++ {
		for _, zones := range []int{1, 3} {
			ms := make([]Member, n)
			for i := range ms {
				ms[i] = Member{ID: fmt.Sprintf("cell-%d-%d", n, i), Zone: fmt.Sprint(i % zones), Weight: 2}
			}
			r := mustNew(t, ms)
			tab, err := NewTable(r, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			owners := tab.Owners()
			for b, got := range owners {
				if want := r.Owner(BucketHash(b)); got != want {
					t.Fatalf("n=%d zones=%d bucket %d: owner %d; Owner says %d", n, zones, b, got, want)
				}
			}
		}
	}
}
