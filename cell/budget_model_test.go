package cell_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cellkit/cellkit/breaker"
	"github.com/cellkit/cellkit/cell"
)

// budgetModel is the retry budget as Config.Budget documents it, kept the
// plainest way: every call and every extra attempt with its time, counted
// while younger than TTL. The client counts in TTL/10 time slots, so the
// model's "younger than TTL" is "in one of the last ten slots".
type budgetModel struct {
	ratio, reserve float64
	slot           time.Duration
	deposits       []int64 // the slot of each call
	withdrawals    []int64 // the slot of each extra attempt
}

func newBudgetModel(b cell.Budget) *budgetModel {
	return &budgetModel{ratio: b.Ratio, reserve: b.PerSecond * b.TTL.Seconds(), slot: b.TTL / 10}
}

func (m *budgetModel) tick(at time.Duration) int64 { return int64(at / m.slot) }

func (m *budgetModel) balance(at time.Duration) float64 {
	t := m.tick(at)
	var d, w int64
	for _, s := range m.deposits {
		if t-s < 10 {
			d++
		}
	}
	for _, s := range m.withdrawals {
		if t-s < 10 {
			w++
		}
	}
	return m.ratio*float64(d) + m.reserve - float64(w)
}

// TestBudgetModel runs random sequences of calls, some of which need a
// failover, at random times, and checks each failover the budget allows or
// refuses, and the tokens Stats reports, against the model.
func TestBudgetModel(t *testing.T) {
	m := diffMap(t)
	var allowedAll, refusedAll uint64
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 99))
		b := cell.Budget{
			Ratio:     []float64{0.05, 0.2, 0.5}[rng.IntN(3)],
			PerSecond: []float64{-1, 0.1, 1}[rng.IntN(3)],
			TTL:       []time.Duration{time.Second, 10 * time.Second}[rng.IntN(2)],
		}
		failRate := []float64{0.3, 0.7, 1}[rng.IntN(3)]
		synctest.Test(t, func(t *testing.T) {
			c := startClient(t, m, cell.Config{
				Budget:   b,
				Breakers: breaker.Config{ConsecutiveFailures: 1 << 20, MinRequests: 1 << 20},
			})
			norm := b
			if norm.PerSecond < 0 {
				norm.PerSecond = 0
			}
			model := newBudgetModel(norm)
			start := time.Now()
			var retries, refused uint64
			for i := range 400 {
				time.Sleep(time.Duration(rng.IntN(40)) * b.TTL / 400)
				at := time.Since(start)
				failFirst := rng.Float64() < failRate
				calls := 0
				err := c.Do(context.Background(), "tenant-"+strconv.Itoa(rng.IntN(1000)), cell.Stateless, func(ctx context.Context, r cell.Route) error {
					calls++
					if r.Attempt == 0 && failFirst {
						return errScriptFail
					}
					return nil
				})
				model.deposits = append(model.deposits, model.tick(at))
				if !failFirst {
					if err != nil || calls != 1 {
						t.Fatalf("call %d: %v after %d attempts; want a success at once", i, err, calls)
					}
					continue
				}
				allowed := model.balance(at) >= 1
				if allowed {
					model.withdrawals = append(model.withdrawals, model.tick(at))
					retries++
				} else {
					refused++
				}
				switch {
				case allowed && (err != nil || calls != 2):
					t.Fatalf("seed %d, budget %+v, call %d at %v: %v after %d attempts; the model allows the failover (balance %.2f)",
						seed, b, i, at, err, calls, model.balance(at)+1)
				case !allowed && (!errors.Is(err, cell.ErrBudget) || calls != 1):
					t.Fatalf("seed %d, budget %+v, call %d at %v: %v after %d attempts; the model refuses the failover (balance %.2f)",
						seed, b, i, at, err, calls, model.balance(at))
				}
				st := c.Stats()
				if st.Retries != retries || st.BudgetRefused != refused || math.Abs(st.BudgetTokens-model.balance(at)) > 1e-9 {
					t.Fatalf("seed %d, call %d: Stats %d retries, %d refused, %.3f tokens; the model %d, %d, %.3f",
						seed, i, st.Retries, st.BudgetRefused, st.BudgetTokens, retries, refused, model.balance(at))
				}
			}
			allowedAll += retries
			refusedAll += refused
		})
	}
	if allowedAll < 100 || refusedAll < 100 {
		t.Fatalf("%d failovers allowed, %d refused in all; the scripts should see many of both", allowedAll, refusedAll)
	}
}
