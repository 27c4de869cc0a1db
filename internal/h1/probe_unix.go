//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import (
	"net"
	"syscall"
)

// probe checks an idle connection before it is reused. Without a goroutine
// reading each idle connection, as http.Transport's readLoop does, a
// server's close is not seen until the next request; a non-blocking
// MSG_PEEK at the socket sees it then, for one system call.
type probe struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool // p.peek, made once
	buf [1]byte
	ok  bool // the last peek's verdict
}

func (p *probe) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw, p.fn = raw, p.peek
}

func (p *probe) peek(fd uintptr) bool {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// Nothing to read: alive. A byte means the server sent something
	// unasked (an error page before closing); no error means EOF.
	p.ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR
	return true // never wait for readability
}

// alive reports whether the connection is open with nothing to read.
func (p *probe) alive() bool {
	if p.raw == nil {
		return true
	}
	p.ok = false
	if err := p.raw.Read(p.fn); err != nil {
		return false
	}
	return p.ok
}
