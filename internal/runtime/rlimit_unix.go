//go:build unix

package runtime

import "syscall"

// fileLimit returns the soft limit on open files, which Go raises to the
// hard limit at start.
func fileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return uint64(r.Cur), true
}
