//go:build linux

package epoll

import (
	"fmt"
	"os"
	"syscall"
)

// Set is one epoll instance. Its descriptor is non-blocking and
// registered with Go's netpoller, which reports it readable,
// edge-triggered, when events are waiting; Run drains them then.
type Set struct {
	fd   int
	file *os.File // fd, registered with Go's netpoller
	rc   syscall.RawConn
}

// New creates an epoll instance; name names its descriptor (in
// /proc/PID/fd and errors).
func New(name string) (*Set, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &Set{fd: fd, file: os.NewFile(uintptr(fd), name)}
	if s.rc, err = s.file.SyscallConn(); err != nil {
		_ = s.file.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// Ctl is epoll_ctl(2) on the instance: op (syscall.EPOLL_CTL_ADD, _MOD,
// _DEL) for descriptor fd, with ev.
func (s *Set) Ctl(op int, fd int32, ev *syscall.EpollEvent) error {
	return syscall.EpollCtl(s.fd, op, int(fd), ev)
}

// Run calls handle for every event of the instance, from the calling
// goroutine, until the instance is closed or cannot be read; it returns
// then. Each time the netpoller reports the instance readable, Run reads
// it until it is empty, as the edge-triggered report requires.
func (s *Set) Run(handle func(ev syscall.EpollEvent)) {
	var events [128]syscall.EpollEvent
	_ = s.rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events[:], 0)
			if err == syscall.EINTR {
				continue
			}
			if err == nil && n == 0 || err == syscall.EAGAIN {
				return false // drained: wait for the next edge
			}
			if err != nil {
				return true
			}
			for _, ev := range events[:n] {
				handle(ev)
			}
		}
	})
}

// Close closes the instance, which ends Run.
func (s *Set) Close() error { return s.file.Close() }
