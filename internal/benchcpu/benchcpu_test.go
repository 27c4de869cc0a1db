package benchcpu

import (
	"runtime"
	"testing"
	"time"
)

func TestNowAdvancesWithWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("CPU time is not measured on " + runtime.GOOS)
	}
	start := Now()
	x := 0
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	if d := Now() - start; d <= 0 {
		t.Fatalf("CPU time moved by %v over 50ms of work (%d loops)", d, x)
	}
}
