package gctune

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, MaxPercent},
		{1 << 20, MaxPercent},  // 1 MiB live: 16 MiB would be 1600%
		{4 << 20, 400},         // exactly Headroom/4
		{8 << 20, 200},         // 16 MiB of growth
		{16 << 20, MinPercent}, // 100%
		{1 << 30, MinPercent},  // large heaps keep Go's default
		{(16 << 20) / 3, 300},
	} {
		if got := Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// TestStartFollowsTheLiveHeap checks that the ratio follows the live
// heap from one collection to the next.
func TestStartFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	Start()
	big := make([][]byte, 0, 64)
	for range 48 {
		big = append(big, make([]byte, 1<<20)) // 48 MiB live
	}
	if got := waitPercent(t, MinPercent); got != MinPercent {
		t.Fatalf("with 48 MiB live the ratio is %d, want %d", got, MinPercent)
	}
	runtime.KeepAlive(big)
	big = nil
	if got := waitPercent(t, MaxPercent); got != MaxPercent {
		t.Fatalf("with the heap freed the ratio is %d, want %d", got, MaxPercent)
	}
}

// waitPercent collects until the ratio is want, or ten seconds have
// passed (a loaded -race machine may run the cleanups late), and returns
// the ratio.
func waitPercent(t *testing.T, want int) int {
	t.Helper()
	var got int
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
		got = gcPercent()
		if got == want {
			break
		}
	}
	return got
}

// gcPercent reads the ratio without setting it: reading it with
// debug.SetGCPercent(-1) and setting it back could undo the value a
// cleanup's tune set in between.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
