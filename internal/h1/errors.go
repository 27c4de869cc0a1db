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
