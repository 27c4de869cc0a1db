package proxy

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openBodyFile opens a temporary file for a request body in dir, unnamed
// (O_TMPFILE), so it disappears with its last descriptor whatever becomes
// of limpet; a file system without O_TMPFILE gets a named file unlinked at
// once. dir is made (0700) if missing, as nginx makes its temp paths.
func openBodyFile(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", errBodyFile, err)
		}
		f, err = os.OpenFile(dir, os.O_RDWR|unix.O_TMPFILE, 0o600)
	}
	if err == nil {
		return f, nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return openUnlinked(dir)
	}
	return nil, fmt.Errorf("%w: %w", errBodyFile, err)
}
