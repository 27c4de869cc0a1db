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
	// spent says that the context may be in use beyond its request's
	// handler: its Done channel was handed out, or a function given to
	// AfterFunc was started (or still registered when the request
	// ended). Such a context is never reused (see reusable).
	spent bool
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

// reusable reports, once the context has been canceled at its request's
// end, whether it may serve another request (reset): nobody was given
// its Done channel, which a waiter elsewhere would otherwise see stay
// open, and no function of AfterFunc ran or was left registered, whose
// goroutine could still be reading the request. next is kept, so a
// stop function of an earlier request can never unregister a later
// one's function.
func (c *requestContext) reusable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil && !c.spent && len(c.funcs) == 0
}

// reset readies a reusable context for another request on base (nil
// for one waiting in a pool).
func (c *requestContext) reset(base context.Context) {
	c.mu.Lock()
	c.Context = base
	c.done, c.err = nil, nil
	c.first = [2]afterFunc{}
	c.funcs = c.first[:0]
	c.spent = false
	c.mu.Unlock()
}

// request is what the server allocates for a request, in one piece
// rather than four: its context, its http.Request and, when the fast
// path parses it (parseBuffered), its URL and the values of its first
// header fields (h1parse.FieldsBacked). Unless Settings.ReuseRequests,
// the handler may keep any of them as long as it likes: they are never
// reused, and the garbage collector frees the whole once nothing points
// into it. With ReuseRequests, a request whose end shows nothing can
// still be using it (conn.serveRequest) is reset and serves the
// connection's next request, with its header map.
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
	// header is the map the fast path fills (h1parse.FieldsInto), kept
	// from the request before when ReuseRequests; nil: a new one.
	header http.Header
	// reuse says, once the request is done, that it may be reset for
	// another (set by conn.serveRequest).
	reuse bool
}

// maxKeptFields is the most fields a kept header map had, when parsed
// or when its request ended: a request with more (a browser's may have
// 20) leaves its map, whose table stays as large as it grew, to the
// collector, and the next request starts from a new one. Connections,
// and the pool, then hold no large maps.
const maxKeptFields = 24

// requestPool holds requests reset for reuse, from connections that
// parked or closed, for any connection of a Server with ReuseRequests.
var requestPool sync.Pool // *request

// reset readies r, whose handler has returned and whose context is
// reusable, for another request on base (nil: for the pool). Nothing of
// the last request is kept: its fields, its URL, its values are zeroed
// and its header map cleared (or dropped when it grew large).
func (r *request) reset(base context.Context) {
	r.ctx.reset(base)
	r.req = http.Request{}
	r.url = url.URL{}
	r.values = [4]string{}
	if len(r.header) > maxKeptFields {
		r.header = nil
	} else {
		clear(r.header)
	}
	r.reuse = false
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
	c.spent = true
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
		c.spent = true
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
	if len(funcs) > 0 {
		c.spent = true
	}
	c.mu.Unlock()
	for _, a := range funcs {
		go a.f()
	}
}
