//go:build linux

package epoll

import (
	"syscall"
	"testing"
)

// TestRunReportsAndEnds: an event on a registered descriptor reaches Run's
// handler with its data, and Close ends Run.
func TestRunReportsAndEnds(t *testing.T) {
	s, err := New("test-epoll")
	if err != nil {
		t.Fatal(err)
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLONESHOT, Fd: int32(fds[0]), Pad: 42}
	if err := s.Ctl(syscall.EPOLL_CTL_ADD, int32(fds[0]), &ev); err != nil {
		t.Fatal(err)
	}
	got := make(chan syscall.EpollEvent, 1)
	ended := make(chan struct{})
	go func() {
		s.Run(func(ev syscall.EpollEvent) { got <- ev })
		close(ended)
	}()
	if _, err := syscall.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev.Fd != int32(fds[0]) || ev.Pad != 42 || ev.Events&syscall.EPOLLIN == 0 {
		t.Errorf("event %+v, want EPOLLIN on %d with data 42", ev, fds[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-ended
}
