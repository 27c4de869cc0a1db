package h1

import (
	"net"
	"sync"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// NewWriteTimeoutConn returns c with each Write bounded by timeout, the
// wait between two successive writes (nginx's proxy_send_timeout) rather
// than one deadline for all of them; a timeout of 0 or less returns c
// itself. The deadline is moved lazily (see deadline.Lazy), so a Write does
// not cost a timer update. Deadlines that other code sets on the returned
// conn, such as a TLS close alert's, are recorded on their way through.
func NewWriteTimeoutConn(c net.Conn, timeout time.Duration) net.Conn {
	if timeout <= 0 {
		return c
	}
	return &writeTimeoutConn{Conn: c, timeout: timeout}
}

// writeTimeoutConn is a net.Conn whose writes each have their own
// deadline.
type writeTimeoutConn struct {
	net.Conn
	timeout time.Duration

	// mu guards wd: a net.Conn may be written to, and have its deadlines
	// set, from several goroutines (HTTP/2's writers, a TLS close alert).
	mu sync.Mutex
	wd deadline.Lazy
}

func (c *writeTimeoutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	err := c.wd.Extend(c.Conn.SetWriteDeadline, c.timeout)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *writeTimeoutConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd.Set(c.Conn.SetWriteDeadline, t)
}

func (c *writeTimeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd.Set(c.Conn.SetDeadline, t)
}
