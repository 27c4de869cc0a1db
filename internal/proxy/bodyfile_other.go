//go:build !linux

package proxy

import (
	"errors"
	"fmt"
	"os"
)

// openBodyFile opens a temporary file for a request body in dir, unlinked
// at once so it disappears with its descriptor (where the system allows
// that of an open file). dir is made (0700) if missing, as nginx makes its
// temp paths.
func openBodyFile(dir string) (*os.File, error) {
	f, err := openUnlinked(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", errBodyFile, err)
		}
		f, err = openUnlinked(dir)
	}
	return f, err
}
