package live

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Queue is NGINX Plus's `queue N [timeout=TIME]` of an upstream: the
// requests that found every server they could use at its max_conns wait
// here, first come first served, until a server frees a slot, the
// timeout passes, or the client leaves.
//
// It is woken by events, never polled: a request that ends on a server
// with max_conns signals one waiter (Signal), and a change of the
// upstream's servers (or of a server's down, drain or health, by the API
// and the health checks) wakes them all (Broadcast), since a server may
// now take them. A woken waiter looks for a server again and, if a newer
// request took the slot first, goes back to the head of the queue.
//
// The request path pays for the queue only when it has waiters: Signal
// on an empty queue is one atomic load, without a lock.
type Queue struct {
	// size counts the requests in Await, including one looking for a
	// server between two waits. Signal reads it without the lock; it is
	// incremented before a waiter first looks for a server, so a Signal
	// that reads 0 came before that look, which then sees the free slot.
	size      atomic.Int64
	overflows atomic.Int64

	// mu guards waiting, the waiters in line to be signalled, oldest
	// first, and their queued flags. It is taken only by requests that
	// wait and by Signal and Broadcast when there are some.
	mu      sync.Mutex
	waiting []*waiter
}

// waiter is one request's place in a Queue.
type waiter struct {
	// signal holds the wake-up Signal gives; buffered, so Signal never
	// blocks under the queue's lock.
	signal chan struct{}
	// queued tells whether the waiter is in Queue.waiting; guarded by
	// Queue.mu.
	queued bool
}

// ErrQueueFull is returned by Await when the queue holds its maximum.
var ErrQueueFull = errors.New("upstream queue is full")

// ErrQueueTimeout is returned by Await when the queue's timeout passed.
var ErrQueueTimeout = errors.New("upstream queue timed out")

// Await queues a request that found no server until take, which looks
// for one and takes its slot, succeeds (nil); until ctx is done (its
// error: the client left); or until expired fires (ErrQueueTimeout). The
// queue holds at most max requests: beyond that Await refuses at once
// (ErrQueueFull) and counts an overflow, as NGINX Plus does.
//
// take runs only while the request is in line to be signalled, so a
// slot freed at any moment either is seen by take or wakes the request:
// none is missed. A request woken whose slot a newer one took goes back
// to the head of the line.
func (q *Queue) Await(ctx context.Context, max int, expired <-chan time.Time, take func() bool) error {
	for {
		n := q.size.Load()
		if n >= int64(max) {
			q.overflows.Add(1)
			return ErrQueueFull
		}
		if q.size.CompareAndSwap(n, n+1) {
			break
		}
	}
	w := &waiter{signal: make(chan struct{}, 1)}
	defer q.leave(w)
	q.mu.Lock()
	w.queued = true
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
	for !take() {
		select {
		case <-w.signal:
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			return ErrQueueTimeout
		}
		q.mu.Lock()
		if !w.queued {
			// Back in line at the head before looking again.
			w.queued = true
			q.waiting = append(q.waiting, nil)
			copy(q.waiting[1:], q.waiting)
			q.waiting[0] = w
		}
		q.mu.Unlock()
	}
	return nil
}

// leave takes w out of the queue. A wake-up it was given and did not use
// (it found a server on its own, or left) is passed on to the next
// waiter, so no freed slot is lost.
func (q *Queue) leave(w *waiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.queued {
		if i := indexOf(q.waiting, w); i >= 0 {
			q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
		}
	}
	select {
	case <-w.signal:
		q.signalLocked()
	default:
	}
	q.size.Add(-1)
}

func indexOf(ws []*waiter, w *waiter) int {
	for i, x := range ws {
		if x == w {
			return i
		}
	}
	return -1
}

// Signal wakes the oldest waiter: a server of the upstream freed a slot.
// On an empty queue it is one atomic load.
func (q *Queue) Signal() {
	if q.size.Load() == 0 {
		return
	}
	q.mu.Lock()
	q.signalLocked()
	q.mu.Unlock()
}

func (q *Queue) signalLocked() {
	if len(q.waiting) == 0 {
		return
	}
	w := q.waiting[0]
	q.waiting[0] = nil
	q.waiting = q.waiting[1:]
	w.queued = false
	w.signal <- struct{}{}
}

// Broadcast wakes every waiter: the upstream's servers changed.
func (q *Queue) Broadcast() {
	if q.size.Load() == 0 {
		return
	}
	q.mu.Lock()
	for len(q.waiting) > 0 {
		q.signalLocked()
	}
	q.mu.Unlock()
}

// Size returns the number of requests in the queue now.
func (q *Queue) Size() int64 { return q.size.Load() }

// Overflows returns the number of requests refused because the queue was
// full, all time.
func (q *Queue) Overflows() int64 { return q.overflows.Load() }
