package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cellkit/cellkit/placement"
)

// A Confirmer waits until cells have confirmed a map version (see
// Follower.Confirmed): the control plane of a migration publishes the next
// phase only once every cell concerned has confirmed the previous one, so
// that no request judged on the older map can still write. HTTPConfirmer
// polls the cells' ConfirmHandler; etcdsource's confirmer watches the
// confirmations cells write to etcd.
type Confirmer interface {
	// AwaitConfirmed returns nil once each of cells has confirmed version
	// v or a newer one. When ctx ends first it returns a
	// *NotConfirmedError naming the cells that have not (matching
	// ErrNotConfirmed and ctx's error). Each implementation documents
	// what a nil cells means.
	AwaitConfirmed(ctx context.Context, v uint64, cells []string) error
}

// A NotConfirmedError names the cells that had not confirmed a version when
// the wait ended.
type NotConfirmedError struct {
	Version uint64
	Cells   []string         // sorted
	Causes  map[string]error // the last error met asking a cell, for the cells that have one
	Err     error            // why the wait ended: ctx's error
}

func (e *NotConfirmedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source: %d cell(s) have not confirmed map version %d: ", len(e.Cells), e.Version)
	for i, c := range e.Cells {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 20 {
			fmt.Fprintf(&b, "and %d more", len(e.Cells)-i)
			break
		}
		b.WriteString(c)
		if err := e.Causes[c]; err != nil {
			fmt.Fprintf(&b, " (%s)", shorten(err.Error()))
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrNotConfirmed and the cause.
func (e *NotConfirmedError) Unwrap() []error { return []error{ErrNotConfirmed, e.Err} }

// ConfirmedPath is where a cell serves its ConfirmHandler by convention,
// under each of its endpoints' URLs; HTTPConfirmerConfig.Path defaults to
// it.
const ConfirmedPath = "/cellkit/confirmed"

// A Confirmation is what a cell's ConfirmHandler answers, as JSON.
type Confirmation struct {
	Cell      string `json:"cell"`
	Version   uint64 `json:"version"`   // of the map in force
	Confirmed uint64 `json:"confirmed"` // see Follower.Confirmed
}

// maxConfirmationBytes bounds the reply an HTTPConfirmer reads.
const maxConfirmationBytes = 1 << 10

// ConfirmHandler returns the handler of cell's confirmations: GET and HEAD
// answer f's Confirmation as JSON, with Cache-Control: no-store. Serve it
// beside the cell's Guard (outside it: the request has no key), at
// ConfirmedPath for HTTPConfirmer's default.
func ConfirmHandler(cell string, f *Follower) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "source: method not allowed", http.StatusMethodNotAllowed)
			return
		}
		c := Confirmation{Cell: cell, Confirmed: f.Confirmed()}
		if m := f.Map(); m != nil {
			c.Version = m.Version()
		}
		body, _ := json.Marshal(c) // cannot fail: a string and numbers
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.Write(append(body, '\n'))
	})
}

// HTTPConfirmerConfig configures an HTTPConfirmer. The zero value is valid.
type HTTPConfirmerConfig struct {
	// Client makes the requests; default http.DefaultClient.
	Client *http.Client
	// Path is the ConfirmHandler's path under each endpoint's URL; default
	// ConfirmedPath.
	Path string
	// Interval is the time between two rounds of requests to the cells
	// that have not confirmed; default 200 ms.
	Interval time.Duration
	// Timeout bounds each request; default 2 s.
	Timeout time.Duration
	// Header is added to each request, for instance for authorization.
	Header http.Header
}

// An HTTPConfirmer is a Confirmer over HTTP: it asks each cell's endpoints,
// from the map its Holder holds, for their Confirmation. A cell has
// confirmed a version when every one of its endpoints answers, for that
// cell, a confirmed version at least as new; an endpoint that cannot be
// reached, or answers for another cell, has not. An endpoint behind a load
// balancer hides the processes behind it: run one process per endpoint, or
// use etcd confirmations, which every process writes.
type HTTPConfirmer struct {
	maps Holder
	cfg  HTTPConfirmerConfig
}

// NewHTTPConfirmer returns an HTTPConfirmer of the cells of the map maps
// holds (read at each round, so that it follows a Follower), or an error
// matching ErrConfig.
func NewHTTPConfirmer(maps Holder, cfg HTTPConfirmerConfig) (*HTTPConfirmer, error) {
	switch {
	case maps == nil:
		return nil, fmt.Errorf("%w: HTTP confirmer without a map holder", ErrConfig)
	case cfg.Interval < 0, cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: HTTP confirmer: negative Interval or Timeout", ErrConfig)
	case cfg.Path != "" && !strings.HasPrefix(cfg.Path, "/"):
		return nil, fmt.Errorf("%w: HTTP confirmer: Path %q does not start with a slash", ErrConfig, shorten(cfg.Path))
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Path == "" {
		cfg.Path = ConfirmedPath
	}
	if cfg.Interval == 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Header = cfg.Header.Clone()
	return &HTTPConfirmer{maps: maps, cfg: cfg}, nil
}

// concurrentAsks bounds the requests of one round in flight at once.
const concurrentAsks = 16

// AwaitConfirmed polls the endpoints of cells, every cell of the map that
// is not disabled when cells is nil, until each cell has confirmed v; see
// Confirmer. A cell the map does not name, or names without endpoints,
// cannot confirm.
func (c *HTTPConfirmer) AwaitConfirmed(ctx context.Context, v uint64, cells []string) error {
	waiting := map[string]error{}
	if cells == nil {
		if m := c.maps.Map(); m != nil {
			for _, cl := range m.Cells() {
				if cl.State != placement.Disabled {
					waiting[cl.ID] = nil
				}
			}
		}
	}
	for _, id := range cells {
		waiting[id] = nil
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for len(waiting) > 0 {
		select {
		case <-ctx.Done():
			e := &NotConfirmedError{Version: v, Causes: map[string]error{}, Err: ctx.Err()}
			for id, err := range waiting {
				e.Cells = append(e.Cells, id)
				if err != nil {
					e.Causes[id] = err
				}
			}
			slices.Sort(e.Cells)
			return e
		case <-t.C:
		}
		c.round(ctx, v, waiting)
		t.Reset(c.cfg.Interval)
	}
	return nil
}

// round asks every cell still waiting, and removes those that confirmed.
func (c *HTTPConfirmer) round(ctx context.Context, v uint64, waiting map[string]error) {
	m := c.maps.Map()
	type result struct {
		id  string
		err error
	}
	results := make(chan result, len(waiting))
	sem := make(chan struct{}, concurrentAsks)
	var wg sync.WaitGroup
	for id := range waiting {
		var eps []placement.Endpoint
		if cl, ok := m.Cell(id); ok {
			eps = cl.Endpoints
		}
		if len(eps) == 0 {
			results <- result{id, errors.New("no endpoint in the map")}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var err error
			for _, ep := range eps {
				if err = c.ask(ctx, ep.URL, id, v); err != nil {
					break
				}
			}
			results <- result{id, err}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		switch {
		case r.err == nil:
			delete(waiting, r.id)
		case ctx.Err() == nil || waiting[r.id] == nil:
			// A request cut short by the end of the wait says less than
			// the cause the cell had before.
			waiting[r.id] = r.err
		}
	}
}

// errBehind is the cause of an endpoint that answered an older version.
var errBehind = errors.New("behind")

// ask returns nil when the endpoint at base confirms v for cell id.
func (c *HTTPConfirmer) ask(ctx context.Context, base, id string, v uint64) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u, err := url.JoinPath(base, c.cfg.Path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	for k, vs := range c.cfg.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %s", shorten(u), shorten(resp.Status))
	}
	var got Confirmation
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConfirmationBytes+1))
	switch {
	case err != nil:
		return err
	case len(body) > maxConfirmationBytes:
		return fmt.Errorf("%s: reply of more than %d bytes", shorten(u), maxConfirmationBytes)
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("%s: not a confirmation: %w", shorten(u), err)
	}
	switch {
	case got.Cell != id:
		return fmt.Errorf("%s answers for cell %q", shorten(u), shorten(got.Cell))
	case got.Confirmed < v:
		return fmt.Errorf("%w: confirmed %d (map %d in force)", errBehind, got.Confirmed, got.Version)
	}
	return nil
}
