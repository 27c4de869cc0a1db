package static

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// canRefuseSymlinks is true where openNoFollow works.
const canRefuseSymlinks = true

// openNoFollow opens path, refusing a symlink in any part of it under
// from ("" or "/": in any part at all), as nginx's disable_symlinks does
// with openat(2) and O_NOFOLLOW, one part at a time, so nothing can be
// swapped between a check and the open. A symlink is ELOOP (403);
// from itself is opened as it is.
func openNoFollow(path, from string) (*os.File, error) {
	rest := path
	if from == "" {
		from = "/"
	}
	if from != "/" {
		from = strings.TrimSuffix(from, "/")
		rest = strings.TrimPrefix(path, from)
	}
	dir, err := unix.Open(from, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: from, Err: err}
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		return os.NewFile(uintptr(dir), path), nil // the root itself
	}
	for i, p := range parts {
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			// Not O_DIRECTORY, which reports a symlink as ENOTDIR
			// rather than ELOOP; the next openat says ENOTDIR when
			// this part is no directory. O_NONBLOCK: a FIFO on the
			// way must not hold the request.
			flags |= unix.O_NONBLOCK
		}
		fd, err := unix.Openat(dir, p, flags, 0)
		unix.Close(dir)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		dir = fd
	}
	return os.NewFile(uintptr(dir), path), nil
}
