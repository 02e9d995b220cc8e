package breaker

import (
	"strconv"
	"sync"
	"time"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// StateChanged reports a cell whose breaker changed state, or whose
	// Forced override changed (then From may equal To).
	StateChanged EventKind = iota
	// PanicStarted reports that the Set started to panic.
	PanicStarted
	// PanicEnded reports that the Set stopped panicking.
	PanicEnded
)

// String returns "state-changed", "panic-started" or "panic-ended".
func (k EventKind) String() string {
	switch k {
	case StateChanged:
		return "state-changed"
	case PanicStarted:
		return "panic-started"
	case PanicEnded:
		return "panic-ended"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event reports a change in a Set to Config.OnEvent.
//
// Events are delivered one at a time, in the order they were queued (for
// one cell, the order of its changes), by a goroutine the Set starts when an
// event is queued and that exits as soon as the queue is empty. No lock is
// held while a handler runs: it may call any method of the Set, and the
// events that causes are delivered after it returns. Allow and Done never
// wait for a handler; a slow handler only delays later events, which queue
// up in memory.
type Event struct {
	Kind EventKind
	Time time.Time // when the change happened

	// Cell, From, To, Forced, Counts, ConsecutiveOpens and OpenUntil
	// describe a StateChanged event.
	Cell     string
	From, To State  // as State reports them, overrides included
	Forced   Forced // the override after the change
	// Counts are the breaker's counts just before the change, which resets
	// them unless it is only a change of Forced.
	Counts           Counts
	ConsecutiveOpens int
	// OpenUntil is when the breaker will turn half-open, if To is Open and
	// the cell is not forced.
	OpenUntil time.Time

	// ClosedCells and Cells describe a panic event: the number of cells
	// whose breaker was closed, out of the known cells not forced open.
	ClosedCells, Cells int
}

// eventQueue delivers events in order, outside every lock, without making
// the goroutines that queue them wait for the handler.
type eventQueue struct {
	handler func(Event)

	mu      sync.Mutex
	pending []Event
	running bool // a drain goroutine owns delivery
}

func (q *eventQueue) push(e Event) {
	if q.handler == nil {
		return
	}
	q.mu.Lock()
	q.pending = append(q.pending, e)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go q.drain()
	}
}

// drain delivers events until the queue is empty, then exits, so that no
// goroutine outlives the events it delivers.
func (q *eventQueue) drain() {
	var batch []Event
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		batch, q.pending = q.pending, batch[:0]
		q.mu.Unlock()
		for i := range batch {
			q.handler(batch[i])
			batch[i] = Event{}
		}
	}
}
