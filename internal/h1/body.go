package h1

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/limpet-lb/limpet/internal/h1parse"
)

// The states of a response body.
const (
	bodyOpen   int32 = iota
	bodyEOF          // read to its end; the connection was released
	bodyClosed       // closed, or broken, before its end
)

// body is a response body on a pooled connection. Reading it to its end
// puts the connection back in the pool (when the response allows
// keep-alive); closing it before then closes the connection, since the rest
// of the body may be large or never come.
//
// Close may be called while a Read is blocked in another goroutine (the
// proxy's idle-timeout timer does so to end a stalled read): it then only
// closes the net.Conn, which ends the Read, and leaves the bufio.Reader to
// the reading goroutine. state decides, once, which of the two ends the
// request.
type body struct {
	c     *conn
	rc    io.ReadCloser // the response's body as parsed, reading from c.br
	fixed *h1parse.Body // rc when it is h1parse's (the fast path's), else nil
	ctx   context.Context
	stop  func() bool // unregisters the context's AfterFunc; nil without one
	keep  bool        // the response allows the connection's reuse
	state atomic.Int32
}

// ReadTimeoutApplied tells the caller that reads of this body are bounded
// by Options.BodyReadTimeout (when set), so it need not bound them itself.
func (b *body) ReadTimeoutApplied() bool { return b.c.t.opts.BodyReadTimeout > 0 }

func (b *body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case bodyEOF:
		return 0, io.EOF
	case bodyClosed:
		return 0, errBodyClosed
	}
	// With no BodyReadTimeout this clears the deadline left by the
	// response headers' wait: the body's reads are the caller's to bound.
	// A read that the buffer serves alone does not read the connection,
	// and needs no deadline: most bodies of the fast path came in with
	// their headers, and are read without a look at the clock.
	if b.fixed == nil || !b.fixed.Buffered() {
		_ = b.c.extendRead(b.c.t.opts.BodyReadTimeout)
	}
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		if b.state.CompareAndSwap(bodyOpen, bodyEOF) {
			b.c.finish(b.keep, b.stop)
		}
		return n, io.EOF
	}
	if b.state.CompareAndSwap(bodyOpen, bodyClosed) {
		b.c.discard(b.stop)
	}
	if cerr := b.ctx.Err(); cerr != nil {
		return n, cerr
	}
	return n, err
}

// Close closes the connection unless the body was read to its end. It does
// not drain the rest of the body.
func (b *body) Close() error {
	if b.state.CompareAndSwap(bodyOpen, bodyClosed) {
		if b.stop != nil {
			b.stop()
		}
		b.c.closeNow()
	}
	return nil
}
