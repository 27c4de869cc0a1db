package limit

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// BenchmarkRequestsPassed is the per-request check of a limit_req whose
// key is known and within its rate: the hot path, which must not
// allocate.
func BenchmarkRequestsPassed(b *testing.B) {
	z, err := NewRequestZone("one", vars.MustCompile("$binary_remote_addr"), 1<<20, 1<<40, epoch)
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewRequests([]Rule{{Zone: z, Burst: 1 << 20, Delay: NoDelay}}, RequestOptions{Options: Options{Now: time.Now, Log: slog.New(slog.DiscardHandler)}, Status: 503})
	if err != nil {
		b.Fatal(err)
	}
	vr := request("/", "192.0.2.1:1")
	l.Check(vr)
	b.ReportAllocs()
	for b.Loop() {
		if d := l.Check(vr); d.Outcome != Passed {
			b.Fatalf("%+v", d)
		}
	}
}

// BenchmarkRequestsPassedParallel is the same from every processor, over
// as many clients, so the shards' locks are shared as in production.
func BenchmarkRequestsPassedParallel(b *testing.B) {
	z, err := NewRequestZone("one", vars.MustCompile("$binary_remote_addr"), 1<<20, 1<<40, epoch)
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewRequests([]Rule{{Zone: z, Burst: 1 << 20, Delay: NoDelay}}, RequestOptions{Options: Options{Now: time.Now, Log: slog.New(slog.DiscardHandler)}, Status: 503})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var next atomic.Uint32
	b.RunParallel(func(pb *testing.PB) {
		vr := request("/", fmt.Sprintf("192.0.2.%d:1", next.Add(1)))
		for pb.Next() {
			l.Check(vr)
		}
	})
}

// BenchmarkConnsAcquireRelease is limit_conn's per-request work: one
// count taken and given back, which must not allocate.
func BenchmarkConnsAcquireRelease(b *testing.B) {
	z := NewConnZone("addr", vars.MustCompile("$binary_remote_addr"), 1<<20)
	l, err := NewConns([]ConnRule{{Zone: z, Max: 10}}, ConnOptions{Options: Options{Log: slog.New(slog.DiscardHandler)}, Status: 503})
	if err != nil {
		b.Fatal(err)
	}
	vr := request("/", "192.0.2.1:1")
	// The key's state is made once; a released one is kept for reuse.
	var first Held
	l.Acquire(vr, &first)
	first.Release()
	b.ReportAllocs()
	for b.Loop() {
		var h Held
		if d := l.Acquire(vr, &h); d.Outcome != Passed {
			b.Fatalf("%+v", d)
		}
		h.Release()
	}
}
