package h1

import "errors"

var (
	errBodyClosed      = errors.New("h1: read on closed response body")
	errHeadersTooLarge = errors.New("h1: response headers exceed the size limit")
	errTooMany1xx      = errors.New("h1: too many informational (1xx) responses")
	errUnexpected101   = errors.New("h1: unexpected 101 Switching Protocols to a request without Upgrade")
	errMissingHost     = errors.New("h1: no Host in request URL")
)

// connError is a failure on an established connection, saying what the
// transport was doing.
type connError struct {
	op  string
	err error
	// stale: the connection had carried requests before and the server
	// closed it before answering this one, most likely as it went out.
	stale bool
}

func (e *connError) Error() string { return "h1: " + e.op + ": " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// timeoutError is ResponseHeaderTimeout expiring. It is a net.Error whose
// Timeout is true, and wraps the read's own error.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string {
	return "h1: timeout awaiting response headers (ResponseHeaderTimeout)"
}
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }
func (e *timeoutError) Unwrap() error   { return e.err }

// bodyError is a failure to read the request body: the client's fault, not
// the connection's.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "h1: reading request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// requestError is a request the fast path refuses to send.
type requestError struct{ msg string }

func (e *requestError) Error() string { return "h1: " + e.msg }

// IsStale reports an error on a pooled connection that the server closed
// before any byte of a response: the server most likely never saw the
// request, so the failure says nothing about the server's health. (It is
// retried on a fresh connection automatically when the request is safe to
// repeat; others surface with this mark.)
func IsStale(err error) bool {
	var ce *connError
	return errors.As(err, &ce) && ce.stale
}
