//go:build !unix

package benchcpu

import "time"

// Now returns 0: the CPU time is not measured on this platform.
func Now() time.Duration { return 0 }
