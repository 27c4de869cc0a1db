package h1parse

import (
	"bufio"
	"io"
)

// ContentLength parses a Content-Length value (already trimmed) of up to
// 18 digits, which strconv.ParseUint(s, 10, 63) and so net/http accept
// too; it returns false for anything else, net/http's to judge.
func ContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Body is a message body of a known length, read from the connection's
// buffered reader, with net/http's semantics: the connection ending before
// the body does is io.ErrUnexpectedEOF, and the body's last bytes come
// with io.EOF, so that the caller can release the connection at once.
// Unlike net/http's, it has no lock: the callers' own body types
// serialize reads and closing.
type Body struct {
	r *bufio.Reader
	n int64 // bytes left
}

// NewBody returns the body of n bytes that r reads next.
func NewBody(r *bufio.Reader, n int64) *Body { return &Body{r: r, n: n} }

// Reset makes b the body of n bytes that r reads next, for a caller that
// keeps a Body in an object of its own rather than allocating one with
// NewBody.
func (b *Body) Reset(r *bufio.Reader, n int64) { b.r, b.n = r, n }

// Buffered reports whether the next Read is served from r's buffer alone,
// without reading r's source: it is when the body is over or r holds
// some of it. A caller that bounds the source's reads with a deadline
// need not move it for such a Read.
func (b *Body) Buffered() bool { return b.n <= 0 || b.r.Buffered() > 0 }

// Read reads the body, no further than its end.
func (b *Body) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	switch {
	case err == io.EOF && b.n > 0:
		err = io.ErrUnexpectedEOF
		b.n = 0 // later reads say io.EOF, as net/http's body does
	case err == nil && b.n == 0:
		err = io.EOF
	}
	return n, err
}

// Close does nothing: what is left of the body, and the connection, are
// the caller's to deal with.
func (b *Body) Close() error { return nil }
