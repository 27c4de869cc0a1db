package demo

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrRunning is returned (wrapped) by Start when the backend is already
// running. The control page answers it with 409 Conflict.
var ErrRunning = errors.New("backend is already running")

// ErrStopped is returned (wrapped) by Stop when the backend is not running.
// The control page answers it with 409 Conflict.
var ErrStopped = errors.New("backend is not running")

// Backend is a demo application server that keeps sessions in its own memory.
//
// A Backend may be started and stopped any number of times; every Start
// begins with no sessions, as a restarted process would. Its methods are
// safe for concurrent use.
type Backend struct {
	// ControlURL is the address of the demo control panel that the app page
	// links to ("Open the demo control panel"); empty omits the link. It is
	// read by Start, so set it before Start (a change takes effect at the
	// next Start).
	ControlURL string

	name string

	// mu guards addr, srv and done. Start and Stop come from the control
	// page while Running and Addr are read by other requests, so the
	// transitions must not interleave.
	mu   sync.Mutex
	addr string        // listen address; the real one once started, so a restart reuses the port
	srv  *http.Server  // the current server, nil when stopped
	done chan struct{} // closed when the current server's Serve returns
}

// NewBackend returns a stopped backend called name (shown on every page and
// in the X-Served-By header) that will listen on addr, such as
// "127.0.0.1:9001". A port of 0 picks a free port at the first Start; Addr
// then reports it and later Starts reuse it.
func NewBackend(name, addr string) *Backend {
	return &Backend{name: name, addr: addr}
}

// Name returns the backend's name, such as "app-01".
func (b *Backend) Name() string { return b.name }

// Addr returns the address the backend listens on: the real address once it
// has been started, the configured one before.
func (b *Backend) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Running reports whether the backend is serving.
func (b *Backend) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.runningLocked()
}

// runningLocked reports whether the current server is serving. A server
// whose Serve returned on its own (a fatal accept error) counts as stopped,
// so that the control page shows the truth and Start can bring it back.
func (b *Backend) runningLocked() bool {
	if b.srv == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// Start listens on the backend's address and serves in a goroutine, with an
// empty session store. It returns an error wrapping ErrRunning if the
// backend is already running, or the listen error if the port is taken.
func (b *Backend) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runningLocked() {
		return fmt.Errorf("start %s: %w", b.name, ErrRunning)
	}
	// Go sets SO_REUSEADDR on TCP listeners, so the port of a backend that
	// was just stopped can be bound again at once despite TIME_WAIT sockets.
	ln, err := net.Listen("tcp", b.addr)
	if err != nil {
		return fmt.Errorf("start %s: %w", b.name, err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{
		Handler:           newApp(b.name, b.ControlURL),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	b.srv, b.done = srv, done
	go func() {
		defer close(done)
		// The error is either http.ErrServerClosed from Stop or a fatal
		// accept error; the latter shows up as "stopped" through done.
		_ = srv.Serve(ln)
	}()
	return nil
}

// Stop closes the listener and every open connection at once, like a crash:
// requests in flight are cut off and the sessions are lost. It returns an
// error wrapping ErrStopped if the backend is not running. When Stop
// returns, the port is free and connections to it are refused.
func (b *Backend) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.runningLocked() {
		b.srv, b.done = nil, nil
		return fmt.Errorf("stop %s: %w", b.name, ErrStopped)
	}
	// Close, not Shutdown: a graceful drain would hide the failure the demo
	// is meant to show.
	err := b.srv.Close()
	<-b.done // Serve has returned, so no goroutine outlives the backend
	b.srv, b.done = nil, nil
	if err != nil {
		return fmt.Errorf("stop %s: %w", b.name, err)
	}
	return nil
}
