package cell

import "github.com/cellkit/cellkit/placement"

// A Verdict is a cell's judgment of one request on its map, whatever the
// transport carries the request: Guard writes it as an HTTP reply, and
// cellgrpc's Guard as a gRPC status, so that both judge by one rule.
type Verdict struct {
	// Owned says the cell serves the request.
	Owned bool
	// Refused, when the cell neither serves nor redirects the request, is
	// ErrFrozen (a write while the key's migration is frozen) or
	// ErrCellBehind (the caller's map is newer than the cell's, or the cell
	// has no map yet); the reply is a refusal with a retry-after.
	Refused error
	// Owner is, when the request is neither owned nor refused, the cell the
	// moved reply names: the key's home (its first read cell, too: reads go
	// home first, to its old cell only as a fallback after a flip).
	Owner string
	// Version is the version of the map judged on; 0 for a nil map.
	Version uint64
}

// Judge judges a request for key at cell self on m: write says the request
// is a write (Map.OwnsWrite judges it, Map.Owns a read), stateless that the
// service keeps no per-key state (Map.OwnsShard judges reads and writes
// alike, and no migration freezes a write), theirs is the caller's map
// version (0 when it sent none).
//
// A request not owned is refused with ErrFrozen when it is a stateful write
// of a frozen key, else with ErrCellBehind when theirs is newer than m (the
// cell cannot know the owner: redirecting on an old map could send the
// caller back to where it came from), else moved to the owner. A nil m
// refuses every request with ErrCellBehind. The key must not be empty (the
// transports reject such requests before judging). Judge does not allocate.
func Judge(m *placement.Map, self, key string, write, stateless bool, theirs uint64) Verdict {
	if m == nil {
		return Verdict{Refused: ErrCellBehind}
	}
	v := Verdict{Version: m.Version()}
	switch {
	case stateless:
		v.Owned = m.OwnsShard(self, key)
	case write:
		v.Owned = m.OwnsWrite(self, key)
	default:
		v.Owned = m.Owns(self, key)
	}
	if v.Owned {
		return v
	}
	home, writable, _ := m.HomeOf(key)
	switch {
	case !stateless && write && !writable:
		v.Refused = ErrFrozen
	case theirs > v.Version:
		v.Refused = ErrCellBehind
	default:
		v.Owner = home
	}
	return v
}
