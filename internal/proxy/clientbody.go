package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
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
	src io.ReadCloser
	rc  *http.ResponseController

	// mu guards err: the transport reads the body in its own goroutine
	// while the handler inspects err after RoundTrip returns.
	mu  sync.Mutex
	err error
}

func newClientBody(w http.ResponseWriter, src io.ReadCloser) *clientBody {
	return &clientBody{src: src, rc: http.NewResponseController(w)}
}

func (b *clientBody) Read(p []byte) (int, error) {
	// Each read gets its own deadline: nginx's timeout between two
	// successive reads of the body, not for the whole upload.
	_ = b.rc.SetReadDeadline(time.Now().Add(clientBodyTimeout))
	n, err := b.src.Read(p)
	if err == io.EOF {
		// The server reads on in the background once the body is
		// done, to notice a client that leaves; it must not inherit
		// the body's deadline.
		_ = b.rc.SetReadDeadline(time.Time{})
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
