//go:build !linux

package h1srv

import (
	"errors"
	"time"
)

// idlePoller parks idle connections on Linux only (epoll); elsewhere idle
// connections keep their goroutines, as with net/http.
type idlePoller struct{}

func newIdlePoller(*Server) (*idlePoller, error) {
	return nil, errors.New("parking needs epoll (Linux)")
}

func (*idlePoller) park(*conn, time.Time) bool { return false }
func (*idlePoller) closeAll()                  {}
func (*idlePoller) close()                     {}

func connFD(any) int32 { return -1 }
