package h1srv

import (
	"context"
	"net/http"
	"net/url"
	"sync"
)

// requestContext is a request's context: the connection's base context
// (its values, no deadline), canceled when the client leaves or the
// handler returns. The base is never canceled (it is made from
// context.Background), so it does not follow the base's end. Its
// children (context.WithCancel of it) are canceled each in a goroutine
// of its own, as the functions given to AfterFunc are, where a
// context.WithCancel parent cancels them in its own goroutine. It is what context.WithCancel makes, for a fraction of
// its allocations, which a proxy pays on every request:
//   - its Done channel is made only when someone asks for it;
//   - it has an AfterFunc method, which context.AfterFunc and the
//     context package's children use instead of a goroutine each, and
//     which h1's transport calls directly for each upstream attempt
//     (one allocation, where context.AfterFunc on a cancelCtx makes four
//     and a map).
type requestContext struct {
	context.Context // the connection's base

	// mu guards the fields below.
	mu    sync.Mutex
	done  chan struct{} // nil until asked for, or closedChan
	err   error
	next  uint64      // the ID of the next function registered
	funcs []afterFunc // registered and neither run nor stopped
	first [2]afterFunc
}

// afterFunc is a function to run when its context ends.
type afterFunc struct {
	id uint64
	f  func()
}

// closedChan is the Done channel of a context canceled before anyone
// asked for its channel.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func newRequestContext(base context.Context) *requestContext {
	c := &requestContext{}
	c.init(base)
	return c
}

// init readies a zero requestContext on base.
func (c *requestContext) init(base context.Context) {
	c.Context = base
	c.funcs = c.first[:0]
}

// request is what the server allocates for every request, in one piece
// rather than four: its context, its http.Request and, when the fast
// path parses it (parseBuffered), its URL and the values of its first
// header fields (h1parse.FieldsBacked). The handler may keep any of them as
// long as it likes: they are never reused, and the garbage collector
// frees the whole once nothing points into it.
type request struct {
	ctx requestContext
	req http.Request
	url url.URL
	// values holds the values of the first four names (more names
	// take an array of their own): four fill the struct's size class,
	// 640 bytes with the allocator's 8-byte header for objects of more
	// than 512 with pointers, to its end, and cover the requests of API
	// clients and load testers (curl sends three fields, wrk two), not
	// a browser's ten or more. Five or eight take the 704-byte class.
	values [4]string
}

// newRequest returns a request whose context is a requestContext on base.
func newRequest(base context.Context) *request {
	r := &request{}
	r.ctx.init(base)
	return r
}

// setRequest makes r's http.Request a copy of req with r's context.
// WithContext, inlined, copies req to the stack rather than the heap:
// the copy to r is the only one.
func (r *request) setRequest(req *http.Request) *http.Request {
	r.req = *req.WithContext(&r.ctx)
	return &r.req
}

// Done returns a channel closed when the request is canceled.
func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			c.done = closedChan
		} else {
			c.done = make(chan struct{})
		}
	}
	return c.done
}

// Err returns context.Canceled once the request is canceled, nil before.
func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// AfterFunc arranges for f to run in its own goroutine once the request
// is canceled, at once if it is already, as context.AfterFunc does; stop
// unregisters f and reports whether it did so before f was started.
func (c *requestContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	id := c.next
	c.next++
	c.funcs = append(c.funcs, afterFunc{id: id, f: f})
	c.mu.Unlock()
	return func() bool { return c.stop(id) }
}

// stop unregisters the function of id, if it is still registered.
func (c *requestContext) stop(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.funcs {
		if a.id == id {
			last := len(c.funcs) - 1
			copy(c.funcs[i:], c.funcs[i+1:])
			c.funcs[last] = afterFunc{}
			c.funcs = c.funcs[:last]
			return true
		}
	}
	return false
}

// cancel cancels the request, once: it closes the Done channel and starts
// the registered functions.
func (c *requestContext) cancel() {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = context.Canceled
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	funcs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, a := range funcs {
		go a.f()
	}
}
