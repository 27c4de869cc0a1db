package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
)

// listen returns the socket of a listen address: the inherited one when
// Options.Inherited has it (a binary upgrade: the old process keeps
// accepting on the same socket until it stops, so no connection is
// refused), else a new one.
func (rt *Runtime) listen(addr string) (net.Listener, error) {
	if ln, ok := rt.opts.Inherited[addr]; ok {
		delete(rt.opts.Inherited, addr)
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// ListenerFiles returns a duplicate of every listening socket, by listen
// address (the key Options.Inherited takes), for a new limpet process to
// inherit: nginx's binary upgrade. The caller closes the files; the
// sockets stay open and served here.
func (rt *Runtime) ListenerFiles() (map[string]*os.File, error) {
	files := make(map[string]*os.File, len(rt.listeners))
	for _, l := range rt.listeners {
		if l.ln == nil {
			continue
		}
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
	var errs []error
	for path, l := range rt.logs {
		if err := l.Reopen(); err != nil {
			if pe, ok := errors.AsType[*fs.PathError](err); ok {
				err = pe.Err
			}
			errs = append(errs, fmt.Errorf("open() %q failed (%w)", path, err))
		}
	}
	return errors.Join(errs...)
}
