package proxy

import "testing"

// BenchmarkStickyHitPathAddHeader is the sticky-hit path with two
// add_header lines, one static and one with a variable: the cost of
// add_header where it is used (where it is not, it costs nothing).
func BenchmarkStickyHitPathAddHeader(b *testing.B) {
	benchmarkStickyHit(b, "off", "add_header X-Frame-Options DENY;\nadd_header X-Host $host always;\n", nil)
}
