package cellgrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/cellkit/cellkit/cell"
	"github.com/cellkit/cellkit/placement"
	"github.com/cellkit/cellkit/placement/source"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// answer is a Guard's reply to one request, decoded by the protocol's
// decoder: the transport-neutral part that both Guards must agree on.
type answer struct {
	served  bool
	owner   string // moved
	refused error  // cell.ErrFrozen or cell.ErrCellBehind
	version uint64
}

func answerOf(err error) answer {
	var mv *cell.MovedError
	var rf *cell.RefusedError
	switch {
	case errors.As(err, &mv):
		return answer{owner: mv.Cell, version: mv.Version}
	case errors.As(err, &rf):
		return answer{refused: rf.Err, version: rf.Version}
	}
	return answer{version: ^uint64(0)} // neither: an unexpected reply
}

// diffMap builds a random map: 2 to 6 cells, shard size 1 to 3, and key
// migrations in random phases from the keys' homes.
func diffMap(t *testing.T, rng *rand.Rand) (*placement.Map, []string) {
	t.Helper()
	type cellDoc struct {
		ID   string `json:"id"`
		Zone string `json:"zone"`
	}
	type migDoc struct {
		Key   string `json:"key"`
		From  string `json:"from"`
		To    string `json:"to"`
		Phase string `json:"phase"`
	}
	doc := struct {
		Version    uint64    `json:"version"`
		Seed       string    `json:"seed"`
		Buckets    int       `json:"buckets"`
		ShardSize  int       `json:"shardSize"`
		Cells      []cellDoc `json:"cells"`
		Migrations []migDoc  `json:"migrations,omitempty"`
	}{Version: 1 + rng.Uint64N(100), Seed: strconv.FormatUint(rng.Uint64(), 10), Buckets: 64}
	n := 2 + rng.IntN(5)
	for i := range n {
		doc.Cells = append(doc.Cells, cellDoc{ID: "c" + strconv.Itoa(i), Zone: "z"})
	}
	doc.ShardSize = 1 + rng.IntN(min(3, n))
	parse := func() *placement.Map {
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		m, err := placement.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := parse()
	var cells []string
	for _, c := range doc.Cells {
		cells = append(cells, c.ID)
	}
	for i := range 6 {
		k := fmt.Sprintf("mig-%d", i)
		a, err := m.Locate(k)
		if err != nil {
			t.Fatal(err)
		}
		to := cells[rng.IntN(n)]
		if to == a.Cell {
			continue
		}
		phase := [...]string{"copying", "frozen", "flipped"}[rng.IntN(3)]
		doc.Migrations = append(doc.Migrations, migDoc{Key: k, From: a.Cell, To: to, Phase: phase})
	}
	return parse(), cells
}

// Differential: on random maps, keys, cells, methods and caller versions,
// cell.Guard (HTTP) and this package's Guard (gRPC) give the same answer:
// served, moved to the same owner at the same version, or refused for the
// same reason at the same version.
func TestGuardsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 1))
	ctx := context.Background()
	checked := map[string]int{}
	for round := range 30 {
		m, cells := diffMap(t, rng)
		for _, stateless := range []bool{false, true} {
			for _, self := range cells {
				served := false
				next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true })
				hg, err := cell.NewGuard(cell.GuardConfig{Cell: self, Map: source.Fixed(m), Key: cell.KeyFromHeader("Cell-Key"), Stateless: stateless, Next: next})
				if err != nil {
					t.Fatal(err)
				}
				gg, err := NewGuard(GuardConfig{Cell: self, Map: source.Fixed(m), Stateless: stateless})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 40 {
					key := "k" + strconv.Itoa(rng.IntN(1000))
					if i%4 == 0 {
						key = "mig-" + strconv.Itoa(rng.IntN(6))
					}
					write := rng.IntN(2) == 0
					theirs := [...]uint64{0, m.Version() - 1, m.Version(), m.Version() + 1}[rng.IntN(4)]

					method, rpc := http.MethodGet, "/svc.S/GetX"
					if write {
						method, rpc = http.MethodPost, "/svc.S/PutX"
					}
					req := httptest.NewRequest(method, "http://cell/", nil)
					req.Header.Set("Cell-Key", key)
					md := metadata.Pairs(MDKey, key)
					if theirs > 0 {
						req.Header.Set(cell.HeaderMapVersion, strconv.FormatUint(theirs, 10))
						md.Set(MDMapVersion, strconv.FormatUint(theirs, 10))
					}
					served = false
					w := httptest.NewRecorder()
					hg.ServeHTTP(w, req)
					hv := answer{served: true}
					if !served {
						hv = answerOf(cell.DecodeReply(w.Code, w.Header()))
					}

					called := false
					_, gerr := gg.Unary()(metadata.NewIncomingContext(ctx, md), nil, &grpc.UnaryServerInfo{FullMethod: rpc},
						func(context.Context, any) (any, error) { called = true; return nil, nil })
					gv := answer{served: true}
					if !called {
						gv = answerOf(decodeReply(status.Convert(gerr), nil))
					}

					if hv != gv {
						t.Fatalf("round %d: cell %s, key %s, write %v, stateless %v, theirs %d: HTTP Guard %+v, gRPC Guard %+v",
							round, self, key, write, stateless, theirs, hv, gv)
					}
					want := cell.Judge(m, self, key, write, stateless, theirs)
					switch {
					case want.Owned:
						checked["served"]++
					case want.Refused != nil:
						checked[want.Refused.Error()]++
					default:
						checked["moved"]++
					}
				}
			}
		}
	}
	// The random cases reach every kind of answer.
	for _, k := range []string{"served", "moved", cell.ErrFrozen.Error(), cell.ErrCellBehind.Error()} {
		if checked[k] == 0 {
			t.Errorf("no case answered %q: %v", k, checked)
		}
	}
}
