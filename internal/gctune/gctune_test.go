package gctune

import (
	"runtime"
	"runtime/debug"
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

// waitPercent collects until the ratio is want, or a second has passed,
// and returns the ratio.
func waitPercent(t *testing.T, want int) int {
	t.Helper()
	var got int
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
		got = debug.SetGCPercent(-1)
		debug.SetGCPercent(got)
		if got == want {
			break
		}
	}
	return got
}
