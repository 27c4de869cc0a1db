package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
)

// listen returns the socket of a listen address: the inherited one when
// Options.Inherited has it (a binary upgrade: the old process keeps
// accepting on the same socket until it stops, so no connection is
// refused), else a new one.
// The inherited socket takes the listen parameters of this configuration
// (reconfigureSocket), as a socket a reload keeps does.
func (rt *Runtime) listen(addr string, o config.Listen) (net.Listener, error) {
	if ln, ok := rt.opts.Inherited[addr]; ok {
		delete(rt.opts.Inherited, addr)
		if tl, ok := ln.(*net.TCPListener); ok {
			if err := reapply(tl, o); err != nil {
				return nil, fmt.Errorf("the inherited socket of %s: %w", addr, err)
			}
		}
		return ln, nil
	}
	return listenSocket(addr, o)
}

// ListenerFiles returns a duplicate of every listening socket, by listen
// address (the key Options.Inherited takes), for a new limpet process to
// inherit: nginx's binary upgrade. The caller closes the files; the
// sockets stay open and served here.
func (rt *Runtime) ListenerFiles() (map[string]*os.File, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	files := make(map[string]*os.File, len(rt.order))
	for _, l := range rt.order {
		fl, ok := l.ln.(interface{ File() (*os.File, error) })
		if !ok {
			closeFiles(files)
			return nil, fmt.Errorf("the socket of %s cannot be handed over", l.addr)
		}
		f, err := fl.File()
		if err != nil {
			closeFiles(files)
			return nil, fmt.Errorf("the socket of %s: %w", l.addr, err)
		}
		files[l.addr] = f
	}
	return files, nil
}

func closeFiles(files map[string]*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// ReopenLogs opens every access log file again by its path (nginx's
// SIGUSR1, after logrotate has renamed the files). A file that cannot be
// opened keeps being written where it was; the errors are joined.
func (rt *Runtime) ReopenLogs() error {
	// Those of configurations still retiring too, as nginx signals its
	// old workers: a path a reload dropped may still be written.
	rt.mu.Lock()
	logs := make(map[*accesslog.Logger]string)
	for _, p := range append(rt.oldPlans(), rt.cur.Load()) {
		for path, l := range p.logs {
			logs[l] = path
		}
	}
	rt.mu.Unlock()
	var errs []error
	for l, path := range logs {
		if err := l.Reopen(); err != nil {
			if pe, ok := errors.AsType[*fs.PathError](err); ok {
				err = pe.Err
			}
			errs = append(errs, fmt.Errorf("open() %q failed (%w)", path, err))
		}
	}
	return errors.Join(errs...)
}
