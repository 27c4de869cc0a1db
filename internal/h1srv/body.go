package h1srv

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// body is a request's body as the handler reads it: it sends 100 Continue
// on the first read when the client asked for it, and sets the watch for
// the client's leaving once the body has been read to its end.
//
// Locks, always taken in this order when nested: contMu, then the
// response's continueMu (to write the 100 Continue); mu alone. The
// response's commit reads the atomics without a lock, so a read blocked
// on the network never holds up the response's header (full duplex) and
// no two goroutines wait on each other's lock.
type body struct {
	c      *conn
	src    io.ReadCloser // from parseBuffered or http.ReadRequest
	gen    uint64
	expect bool

	eof       atomic.Bool // src returned io.EOF
	readAny   atomic.Bool // the handler read some of it
	continued atomic.Bool // the 100 Continue is sent or was due

	// contMu orders the 100 Continue with detach: none is written once
	// the handler has returned. It guards noContinue.
	contMu     sync.Mutex
	noContinue bool
	// mu serializes reads of src: a transport may read the body in its
	// own goroutine while the handler's goroutine closes it. It guards
	// the fields below.
	mu       sync.Mutex
	closed   bool
	detached bool // the handler returned: its reads are over
}

func (b *body) Read(p []byte) (int, error) {
	if b.expect && len(p) > 0 && !b.continued.Load() {
		b.contMu.Lock()
		if !b.noContinue && !b.continued.Load() {
			b.continued.Store(true)
			b.c.w.sendContinue()
		}
		b.contMu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.detached {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof.Load() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.readAny.Store(true)
	}
	if err == io.EOF {
		b.eof.Store(true)
		b.c.arm(b.gen, clock()) // the read may have blocked
	}
	return n, err
}

// Close makes later reads fail; what is left of the body is the server's
// to read or not after the handler.
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// detach ends the handler's reads once it has returned: a read still in
// progress in another goroutine (a transport's) is awaited, and later ones
// fail, as with net/http, so that the connection's buffer and response
// have one user again before they are reused or returned to their pools.
func (b *body) detach() {
	b.contMu.Lock()
	b.noContinue = true
	b.contMu.Unlock()
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

// done reports whether the body was read to its end.
func (b *body) done() bool { return b.eof.Load() }

// discardRest reads and drops what the handler left of the body, up to
// maxDiscard, and reports whether it reached the end, so that the
// connection can serve another request. A handler that read part of the
// body and stopped (http.MaxBytesReader, an error) or a client never told
// to continue leave the connection to be closed.
func (b *body) discardRest(timeout time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof.Load() {
		return true
	}
	if b.readAny.Load() || (b.expect && !b.continued.Load()) {
		return false
	}
	b.closed = true
	if timeout > 0 {
		now := clock()
		b.c.readAt(now, now.Add(timeout))
	}
	n, err := io.CopyN(io.Discard, b.src, maxDiscard+1)
	if err == io.EOF && n <= maxDiscard {
		b.eof.Store(true)
		return true
	}
	return false
}
