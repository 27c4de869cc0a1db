package h1srv

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// body is a request's body as the handler reads it: it sends 100 Continue
// on the first read when the client asked for it, and sets the watch for
// the client's leaving once the body has been read to its end.
type body struct {
	c      *conn
	src    io.ReadCloser // from http.ReadRequest
	gen    uint64
	expect bool

	// mu guards the fields below: a transport may read the body in its
	// own goroutine while the handler's goroutine closes it.
	mu        sync.Mutex
	eof       bool // src returned io.EOF
	readAny   bool // the handler read some of it
	closed    bool
	continued bool
	detached  bool // the handler returned: its reads are over
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.detached {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.eof {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.expect && !b.continued {
		b.continued = true
		b.c.w.sendContinue()
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.readAny = true
	}
	if err == io.EOF {
		b.eof = true
		b.c.arm(b.gen)
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
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

// done reports whether the body was read to its end.
func (b *body) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// discardRest reads and drops what the handler left of the body, up to
// maxDiscard, and reports whether it reached the end, so that the
// connection can serve another request. A handler that read part of the
// body and stopped (http.MaxBytesReader, an error) or a client never told
// to continue leave the connection to be closed.
func (b *body) discardRest(timeout time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.readAny || (b.expect && !b.continued) {
		return false
	}
	b.closed = true
	if timeout > 0 {
		now := time.Now()
		b.c.readAt(now, now.Add(timeout))
	}
	n, err := io.CopyN(io.Discard, b.src, maxDiscard+1)
	if err == io.EOF && n <= maxDiscard {
		b.eof = true
		return true
	}
	return false
}
