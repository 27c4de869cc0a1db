package proxy

import (
	"errors"
	"io"
	"sync"
)

// replayLimit is how much of a streamed request body (proxy_request_buffering
// off) limpet keeps in memory so the request can be retried on another
// server after a failure; a request that failed after more of its body
// was read is not retried. Under on (the default), the whole body is
// buffered before the first attempt (reqbuffer.go) and always resent.
const replayLimit = 64 << 10

// errBodyReplaced ends the reads of an attempt that was given up.
var errBodyReplaced = errors.New("request body handed to a newer attempt")

// replayBody lets a streamed request body be sent again from its start, to
// another server, as long as no more than replayLimit bytes of it have been
// read from the client.
//
// Each attempt reads through its own view (attempt). The standard
// transport may go on reading an abandoned attempt's body in its own
// goroutine after RoundTrip has returned, so views are numbered and a view
// of an older attempt reads nothing more; whatever any view reads from the
// client is recorded first, so no byte is lost to the newer attempt.
type replayBody struct {
	// mu guards everything below; it is taken once per Read of the body,
	// only by requests that have a body and may be retried.
	mu       sync.Mutex
	src      io.Reader
	buf      []byte // bytes [0, len(buf)) of the body, while not overflowed
	total    int64  // bytes read from src so far
	overflow bool   // more than replayLimit bytes were read: no more replays
	err      error  // src's terminal error (usually io.EOF), once seen
	gen      int    // number of the current attempt's view
}

// attempt returns a fresh view of the body from its first byte, for the
// next attempt, and reports false if the body can no longer be replayed.
func (b *replayBody) attempt() (io.ReadCloser, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.overflow {
		return nil, false
	}
	b.gen++
	return &bodyView{b: b, gen: b.gen}, true
}

// bodyView is one attempt's reader of a replayBody.
type bodyView struct {
	b   *replayBody
	gen int
	pos int64
}

func (v *bodyView) Read(p []byte) (int, error) {
	b := v.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if v.gen != b.gen {
		return 0, errBodyReplaced
	}
	if v.pos < int64(len(b.buf)) {
		n := copy(p, b.buf[v.pos:])
		v.pos += int64(n)
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.total += int64(n)
		v.pos += int64(n)
		if !b.overflow && b.total > replayLimit {
			b.overflow, b.buf = true, nil
		}
		if !b.overflow {
			b.buf = append(b.buf, p[:n]...)
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// Close does nothing: the transport closes a body when an attempt fails,
// but the client's body must outlive failed attempts; the handler closes
// it when the request ends.
func (v *bodyView) Close() error { return nil }
