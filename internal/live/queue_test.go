package live

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// queued is one request waiting in a Queue under test. Its take reports
// each look for a server on looks and answers what the test sends on
// answers, so the test moves in step with the waiter.
type queued struct {
	looks   chan struct{}
	answers chan bool
	expire  chan time.Time
	cancel  context.CancelFunc
	done    chan error
}

// enter starts a request waiting in q (of at most max) and returns once
// it has made its first look, that is once it is in line.
func enter(t *testing.T, q *Queue, max int) *queued {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &queued{looks: make(chan struct{}), answers: make(chan bool), expire: make(chan time.Time, 1), cancel: cancel, done: make(chan error, 1)}
	go func() {
		w.done <- q.Await(ctx, max, w.expire, func() bool {
			w.looks <- struct{}{}
			return <-w.answers
		})
	}()
	t.Cleanup(cancel)
	select {
	case <-w.looks:
	case err := <-w.done:
		t.Fatalf("Await returned %v before its first look", err)
	}
	w.answers <- false
	return w
}

// looked waits for w's next look for a server and answers it.
func (w *queued) looked(t *testing.T, found bool) {
	t.Helper()
	select {
	case <-w.looks:
		w.answers <- found
	case err := <-w.done:
		t.Fatalf("Await returned %v instead of looking again", err)
	}
}

// result waits for Await to return.
func (w *queued) result() error { return <-w.done }

func TestQueueOverflow(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		waiting int // requests already in the queue
		want    error
	}{
		{"empty queue of one", 1, 0, nil},
		{"full queue of one", 1, 1, ErrQueueFull},
		{"queue of three with two", 3, 2, nil},
		{"full queue of three", 3, 3, ErrQueueFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue
			for range tt.waiting {
				enter(t, &q, tt.max)
			}
			looked := false
			err := q.Await(context.Background(), tt.max, nil, func() bool { looked = true; return true })
			if !errors.Is(err, tt.want) {
				t.Fatalf("Await = %v, want %v", err, tt.want)
			}
			wantOverflows := int64(0)
			if tt.want != nil {
				wantOverflows = 1
			}
			if q.Overflows() != wantOverflows || looked == (tt.want != nil) {
				t.Fatalf("overflows %d, looked %v; want %d overflows", q.Overflows(), looked, wantOverflows)
			}
			if q.Size() != int64(tt.waiting) {
				t.Fatalf("size %d after Await, want %d", q.Size(), tt.waiting)
			}
		})
	}
}

// A request leaves the queue on a timeout or when its client goes; the
// queue then has room again.
func TestQueueLeaves(t *testing.T) {
	tests := []struct {
		name  string
		leave func(w *queued)
		want  error
	}{
		{"timeout", func(w *queued) { w.expire <- time.Now() }, ErrQueueTimeout},
		{"client gone", func(w *queued) { w.cancel() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue
			w := enter(t, &q, 1)
			tt.leave(w)
			if err := w.result(); !errors.Is(err, tt.want) {
				t.Fatalf("Await = %v, want %v", err, tt.want)
			}
			if q.Size() != 0 {
				t.Fatalf("size %d after leaving, want 0", q.Size())
			}
			q.Signal() // nobody left to wake: must not block or panic
			enter(t, &q, 1).cancel()
		})
	}
}

// Signals wake the oldest waiter first; one woken whose slot was taken
// by someone else goes back to the head.
func TestQueueOrder(t *testing.T) {
	var q Queue
	a := enter(t, &q, 3)
	b := enter(t, &q, 3)
	c := enter(t, &q, 3)

	q.Signal()
	a.looked(t, false) // a newer request took the slot
	q.Signal()
	a.looked(t, true) // a is still first
	if err := a.result(); err != nil {
		t.Fatalf("a: %v", err)
	}
	q.Signal()
	b.looked(t, true)
	if err := b.result(); err != nil {
		t.Fatalf("b: %v", err)
	}
	if q.Size() != 1 {
		t.Fatalf("size %d, want 1 (c)", q.Size())
	}
	c.cancel()
	if err := c.result(); !errors.Is(err, context.Canceled) {
		t.Fatalf("c: %v", err)
	}
}

// A wake-up given to a request that then finds a server by itself is
// passed on, so the freed slot is not lost.
func TestQueuePassesSignalOn(t *testing.T) {
	var q Queue
	a := enter(t, &q, 2)
	b := enter(t, &q, 2)
	q.Signal()
	// a is woken and looks; while it looks, a second slot frees.
	<-a.looks
	q.Signal() // a is in line again (at the head): it gets this one too
	a.answers <- true
	if err := a.result(); err != nil {
		t.Fatalf("a: %v", err)
	}
	b.looked(t, true) // the second wake-up went on to b
	if err := b.result(); err != nil {
		t.Fatalf("b: %v", err)
	}
}

// Broadcast (a change of the servers) wakes every waiter.
func TestQueueBroadcast(t *testing.T) {
	var q Queue
	ws := []*queued{enter(t, &q, 3), enter(t, &q, 3), enter(t, &q, 3)}
	q.Broadcast()
	for i, w := range ws {
		w.looked(t, true)
		if err := w.result(); err != nil {
			t.Fatalf("waiter %d: %v", i, err)
		}
	}
	if q.Size() != 0 {
		t.Fatalf("size %d, want 0", q.Size())
	}
}

// Requests racing for one slot through the queue all get it in turn: no
// wake-up is lost between a request ending and a waiter looking.
func TestQueueNoLostWakeup(t *testing.T) {
	const requests = 200
	var q Queue
	s := &upstream.Server{MaxConns: 1}
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !s.Acquire() {
				if err := q.Await(context.Background(), requests, nil, s.Acquire); err != nil {
					errs <- err
					return
				}
			}
			if n := s.Active(); n != 1 {
				errs <- errors.New("more than max_conns requests in flight")
			}
			s.End()
			q.Signal()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if q.Size() != 0 || s.Active() != 0 {
		t.Fatalf("size %d, active %d after all requests; want 0, 0", q.Size(), s.Active())
	}
}

// The upstream's queue is woken when its servers change.
func TestUpstreamChangeWakesQueue(t *testing.T) {
	full := &upstream.Server{ID: "a", Addr: "127.0.0.1:1", Weight: 1, MaxConns: 1}
	full.Begin()
	u := New("app", Policy{QueueSize: 1, QueueTimeout: time.Minute}, []*upstream.Server{full})
	looks := make(chan struct{}, 4)
	added := &upstream.Server{ID: "b", Addr: "127.0.0.1:2", Weight: 1}
	done := make(chan error, 1)
	go func() {
		done <- u.Queue().Await(context.Background(), 1, nil, func() bool {
			looks <- struct{}{}
			return u.Pool().Lookup("b") != nil
		})
	}()
	<-looks
	if err := u.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) { return append(cur, added), nil }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Await after the new server: %v", err)
	}
}
