// Package benchcpu adds the process's CPU time per operation to a
// benchmark's results ("cpu-ns/op"): what a proxy's throughput depends on,
// where ns/op is mostly the wall time of loopback round trips.
package benchcpu

import (
	"testing"
	"time"
)

// Report adds the CPU time used since start (from Now) per operation to
// b's results; nothing where the platform does not measure it.
//
//	defer benchcpu.Report(b, benchcpu.Now())
func Report(b *testing.B, start time.Duration) {
	if d := Now() - start; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
