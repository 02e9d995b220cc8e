package cell

import "context"

// This file holds what transports other than the built-in HTTP one (such as
// the cellgrpc module's balancer) need from a Client, so that they apply the
// client's own rules instead of copies of them.

// Endpoints returns the map in force's version and the URLs at which the
// client calls cell id: the cell's endpoints in the client's zone, or all of
// them when none is (see Endpoints in the package documentation). It
// reports false before the first map and for a cell the map does not list.
// The slice is new; the caller may keep it.
func (c *Client) Endpoints(id string) (urls []string, version uint64, ok bool) {
	if c == nil {
		return nil, 0, false
	}
	t := c.table.Load()
	if t == nil {
		return nil, 0, false
	}
	cr := t.lookup(id)
	if cr == nil {
		return nil, t.version, false
	}
	urls = make([]string, len(cr.eps))
	for i, ep := range cr.eps {
		urls[i] = ep.url
	}
	return urls, t.version, true
}

// Swapped returns a channel that is closed when the next map is swapped in:
// read it before Map, and wait on it after, to miss no swap. It is nil (a
// channel never closed) for a Client not made by NewClient.
func (c *Client) Swapped() <-chan struct{} {
	if !c.made() {
		return nil
	}
	return *c.swapped.Load()
}

// ClassFrom returns the class that WithClass put in ctx, if any.
func ClassFrom(ctx context.Context) (Class, bool) {
	cl, ok := ctx.Value(classKey{}).(Class)
	return cl, ok
}
