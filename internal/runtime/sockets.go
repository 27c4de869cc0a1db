package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
)

// socket is one listening address and the HTTP server on it. It belongs
// to the Runtime, not to a plan: a reload that keeps the address keeps
// the socket and its connections, and gives its server the new plan's
// settings (h1srv.Server.Reconfigure).
type socket struct {
	addr   string
	ln     net.Listener
	server *h1srv.Server
	// dualStack is whether the socket was opened with ipv6only=off,
	// which a reload cannot change.
	dualStack bool
}

// openSockets binds the addresses of p that have no socket yet. If one
// cannot be bound, those bound here are closed again and the error says
// which, in nginx's words. The sockets are registered but not served
// (serve).
func (rt *Runtime) openSockets(p *plan) ([]*socket, error) {
	var opened []*socket
	for _, lp := range p.listens {
		if rt.sockets[lp.addr] != nil {
			continue
		}
		ln, err := rt.listen(lp.addr, lp.opts)
		if err != nil {
			for _, s := range opened {
				_ = s.ln.Close()
			}
			return nil, fmt.Errorf("bind() to %s failed (%w)", bindName(lp.addr), errnoError{errors.Unwrap(err)})
		}
		opened = append(opened, &socket{addr: lp.addr, ln: ln, dualStack: lp.opts.IPv6Only == config.IPv6OnlyOff, server: &h1srv.Server{
			Settings: lp.settings,
			// worker_connections, for all sockets together.
			Limit:    rt.conns,
			ErrorLog: slog.NewLogLogger(rt.log.Handler(), slog.LevelWarn),
			InfoLog:  slog.NewLogLogger(rt.log.Handler(), slog.LevelInfo),
			// Failed handshakes of all sockets, for the metrics.
			SharedFailures: &rt.tlsFailures,
		}})
	}
	for _, s := range opened {
		rt.sockets[s.addr] = s
		rt.order = append(rt.order, s)
	}
	return opened, nil
}

// bindName spells a listen address as nginx's bind() error does: a
// wildcard is 0.0.0.0.
func bindName(addr string) string {
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		return net.JoinHostPort("0.0.0.0", port)
	}
	return addr
}

// errnoError prints a system call's error as nginx does, with the errno
// and the C library's capitalised text: "98: Address already in use".
// It unwraps to the error it prints.
type errnoError struct{ err error }

func (e errnoError) Error() string {
	if errno, ok := errors.AsType[syscall.Errno](e.err); ok {
		text := errno.Error()
		if text != "" {
			text = strings.ToUpper(text[:1]) + text[1:]
		}
		return fmt.Sprintf("%d: %s", int(errno), text)
	}
	return e.err.Error()
}

func (e errnoError) Unwrap() error { return e.err }

// serve serves each socket in the background.
func (rt *Runtime) serve(socks []*socket) {
	for _, s := range socks {
		go func() {
			// The runtime alone closes its sockets (Shutdown, a
			// removed address), sometimes before the server knows.
			if err := s.server.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				rt.log.Error("serving stopped", slog.String("listen", s.addr), slog.String("error", err.Error()))
			}
		}()
	}
}

// closeRemovedSockets takes the sockets of addresses p does not listen on
// out of the Runtime and returns them, to be stopped (stopSocket).
func (rt *Runtime) closeRemovedSockets(p *plan) []*socket {
	var removed []*socket
	kept := rt.order[:0]
	for _, s := range rt.order {
		if p.listen(s.addr) == nil {
			removed = append(removed, s)
			delete(rt.sockets, s.addr)
			continue
		}
		kept = append(kept, s)
	}
	rt.order = kept
	return removed
}

// stopSocket stops accepting on a socket at once, closes its idle
// connections, and waits for the others until ctx is done, then closes
// them.
func (rt *Runtime) stopSocket(ctx context.Context, s *socket) {
	_ = s.ln.Close()
	if err := s.server.Shutdown(ctx); err != nil {
		_ = s.server.Close()
	}
}
