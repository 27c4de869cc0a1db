package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// clientBodyTimeout is nginx's client_body_timeout default: the longest a
// client may pause while sending its request body.
const clientBodyTimeout = 60 * time.Second

// clientBody is the client's request body as the upstream transport reads
// it. It remembers a failure to read from the client, so that a broken,
// stalled or oversized upload is answered as the client's fault (400, 408,
// 413) instead of being blamed on a server, retried on every other one,
// and taking them all out of rotation.
type clientBody struct {
	src     io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration // client_body_timeout

	// rd is the client connection's read deadline and eof whether src
	// has ended. Only Read touches them, and Reads never overlap: one
	// attempt's transport reads the body from one goroutine, and
	// replayBody's lock serialises the reads of several attempts.
	rd  deadline.Lazy
	eof bool

	// mu guards err: the transport reads the body in its own goroutine
	// while the handler inspects err after RoundTrip returns.
	mu  sync.Mutex
	err error
}

func newClientBody(w http.ResponseWriter, src io.ReadCloser, timeout time.Duration) *clientBody {
	return &clientBody{src: src, rc: http.NewResponseController(w), timeout: timeout}
}

func (b *clientBody) Read(p []byte) (int, error) {
	if !b.eof {
		// Each read has its own deadline, nginx's timeout between
		// two successive reads of the body rather than one for the
		// whole upload, moved lazily: once per deadline.MaxSlack, not once
		// per read. After the end, reads return at once, and no
		// deadline may be set (see below).
		_ = b.rd.Extend(b.rc.SetReadDeadline, b.timeout)
	}
	n, err := b.src.Read(p)
	if err == io.EOF {
		// Once the body is done, net/http reads on in the background
		// to notice a client that leaves, and that read must not
		// inherit the body's deadline; net/http clears the deadline
		// itself as it starts it (server.go, startBackgroundRead), or
		// before the connection's next request when a pipelined one
		// is already in. Clearing it here too would cost a call per
		// request; TestClientDeadlinesDoNotOutliveTheRequest pins
		// net/http's doing it.
		b.eof = true
	}
	if err != nil && err != io.EOF {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// Close does nothing: the transport closes a body when an attempt fails,
// but the client's body must outlive failed attempts; the server closes
// it when the request ends.
func (b *clientBody) Close() error { return nil }

// failure reports how the request must end if reading the client's body
// failed, and false if it did not.
func (b *clientBody) failure() (failure, bool) {
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if err == nil {
		return failure{}, false
	}
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return failure{status: http.StatusRequestEntityTooLarge}, true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return failure{status: http.StatusRequestTimeout}, true
	}
	// A malformed chunked body, or a client that went away mid-upload.
	return failure{status: http.StatusBadRequest}, true
}
