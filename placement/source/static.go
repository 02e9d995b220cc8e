package source

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/cellkit/cellkit/placement"
)

// NewStatic returns a Source of one map: the first Next returns m, later
// calls wait for ctx. A nil m is reported once, as an error matching
// ErrFetch, by the first Next. The source is safe for concurrent
// use; exactly one caller gets m.
func NewStatic(m *placement.Map) Source {
	s := &static{nilMap: m == nil}
	s.m.Store(m)
	s.pending.Store(true)
	return s
}

type static struct {
	m       atomic.Pointer[placement.Map]
	pending atomic.Bool // the first Next has not happened
	nilMap  bool
}

func (s *static) Next(ctx context.Context) (*placement.Map, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.pending.Swap(false) {
		if s.nilMap {
			return nil, fetchErr("static", fmt.Errorf("NewStatic of a nil map"))
		}
		return s.m.Swap(nil), nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}
