//go:build !linux

package static

import (
	"errors"
	"os"
)

// canRefuseSymlinks is false where openNoFollow does not work.
const canRefuseSymlinks = false

func openNoFollow(path, from string) (*os.File, error) {
	return nil, errors.New("disable_symlinks is not supported on this system")
}
