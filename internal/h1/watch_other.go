//go:build !linux

package h1

// watch is the close watcher's state of a connection; only Linux has the
// watcher (epoll). Elsewhere a connection the server closed is found by
// the probe when it is next taken, or ends with its idle timeout.
type watch struct{}

func (c *conn) startWatch() {}

func (c *conn) stopWatch() {}

func (c *conn) peerClosed() bool { return false }
