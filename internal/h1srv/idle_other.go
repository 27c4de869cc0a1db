//go:build !linux

package h1srv

import "time"

// idlePoller parks idle connections on Linux only (epoll); elsewhere idle
// connections keep their goroutines, as with net/http.
type idlePoller struct{}

// newIdlePoller returns no poller and no error: keeping goroutines is
// the expected behaviour here, not a failure to report.
func newIdlePoller(*Server) (*idlePoller, error) { return nil, nil }

func (*idlePoller) park(*conn, time.Time) bool { return false }
func (*idlePoller) closeAll()                  {}
func (*idlePoller) close()                     {}

func (*idlePoller) reusable(cands []idleConn, _ time.Time, _ int) ([]idleConn, time.Time) {
	return cands, time.Time{}
}
func (*idlePoller) parkedCount() int        { return 0 }
func (*idlePoller) evict(*conn, int32) bool { return false }

func connFD(any) int32 { return -1 }
