package deadline

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeDeadline stands for one direction of a connection: it holds the
// deadline in place and counts the calls that set it.
type fakeDeadline struct {
	at    time.Time
	calls int
	err   error // returned by set, which then changes nothing
}

func (f *fakeDeadline) set(t time.Time) error {
	f.calls++
	if f.err != nil {
		return f.err
	}
	f.at = t
	return nil
}

func TestSlack(t *testing.T) {
	tests := []struct {
		timeout, want time.Duration
	}{
		{16, 1},
		{100 * time.Millisecond, 6250 * time.Microsecond},
		{time.Second, 62500 * time.Microsecond},
		{4800 * time.Millisecond, MaxSlack},
		{60 * time.Second, MaxSlack},
	}
	for _, tt := range tests {
		if got := Slack(tt.timeout); got != tt.want {
			t.Errorf("Slack(%v) = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}

func TestLazyExtend(t *testing.T) {
	now := time.Now()
	const minute = 60 * time.Second
	tests := []struct {
		name    string
		at      time.Duration // the deadline in place, from now; 0 for none
		timeout time.Duration
		want    time.Duration // the deadline after, from now; 0 for none
		call    bool          // whether set must be called
	}{
		{"none set", 0, minute, minute + MaxSlack, true},
		{"within slack", minute + MaxSlack/2, minute, minute + MaxSlack/2, false},
		{"exactly the timeout", minute, minute, minute, false},
		{"exactly timeout+slack", minute + MaxSlack, minute, minute + MaxSlack, false},
		{"would fire early", minute - time.Nanosecond, minute, minute + MaxSlack, true},
		{"would fire late", minute + MaxSlack + time.Nanosecond, minute, minute + MaxSlack, true},
		{"passed", -time.Second, minute, minute + MaxSlack, true},
		{"longer timeout's deadline", 2 * minute, time.Second, time.Second + Slack(time.Second), true},
		{"short timeout within slack", 100*time.Millisecond + 6*time.Millisecond, 100 * time.Millisecond, 106 * time.Millisecond, false},
		{"short timeout beyond slack", 100*time.Millisecond + 7*time.Millisecond, 100 * time.Millisecond, 100*time.Millisecond + 6250*time.Microsecond, true},
		{"zero timeout, none set", 0, 0, 0, false},
		{"zero timeout clears", minute, 0, 0, true},
		{"negative timeout clears", minute, -time.Second, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeDeadline
			var d Lazy
			if tt.at != 0 {
				f.at = now.Add(tt.at)
				d.at = f.at
			}
			if err := d.ExtendAt(f.set, now, tt.timeout); err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tt.want != 0 {
				want = now.Add(tt.want)
			}
			if !f.at.Equal(want) || !d.at.Equal(f.at) {
				t.Errorf("deadline %v (recorded %v), want %v", f.at.Sub(now), d.at.Sub(now), tt.want)
			}
			if (f.calls > 0) != tt.call || f.calls > 1 {
				t.Errorf("%d calls to set, want a call: %v", f.calls, tt.call)
			}
		})
	}
}

// TestLazyNeverEarly drives a deadline through a random sequence
// of I/Os, each after a random pause and with one of a few timeouts: after
// every Extend, the deadline in place is at least the timeout away, and
// late by no more than the slack.
func TestLazyNeverEarly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	timeouts := []time.Duration{0, 100 * time.Millisecond, time.Second, 60 * time.Second}
	var f fakeDeadline
	var d Lazy
	now := time.Now()
	const ios = 100000
	mixed := 0 // calls while the timeouts vary
	for i := range ios {
		now = now.Add(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
		timeout := timeouts[rng.IntN(len(timeouts))]
		if i == ios/2 {
			mixed = f.calls
		}
		if i >= ios/2 {
			timeout = 60 * time.Second // a busy connection
		}
		if err := d.ExtendAt(f.set, now, timeout); err != nil {
			t.Fatal(err)
		}
		if !d.at.Equal(f.at) {
			t.Fatalf("I/O %d: recorded deadline %v is not the one in place, %v", i, d.at, f.at)
		}
		if timeout == 0 {
			if !f.at.IsZero() {
				t.Fatalf("I/O %d: deadline %v for no timeout", i, f.at.Sub(now))
			}
			continue
		}
		if left := f.at.Sub(now); left < timeout || left > timeout+Slack(timeout) {
			t.Fatalf("I/O %d: deadline %v away for a timeout of %v", i, left, timeout)
		}
	}
	// A connection busy with one timeout moves its deadline about once
	// per slack: here I/Os come every 25ms on average, and the slack is
	// 300ms, so about one in 12 costs a call.
	if busy := f.calls - mixed; busy > ios/2/8 {
		t.Errorf("%d calls to set for %d I/Os with a timeout of 60s, want fewer than %d", busy, ios/2, ios/2/8)
	}
}

func TestLazyClearAndSet(t *testing.T) {
	var f fakeDeadline
	var d Lazy
	if err := d.Clear(f.set); err != nil || f.calls != 0 {
		t.Fatalf("Clear with no deadline: %d calls, error %v; want none", f.calls, err)
	}
	at := time.Now().Add(time.Hour)
	if err := d.Set(f.set, at); err != nil || !f.at.Equal(at) || !d.at.Equal(at) {
		t.Fatalf("Set: deadline %v, recorded %v, error %v; want %v", f.at, d.at, err, at)
	}
	if err := d.Clear(f.set); err != nil || !f.at.IsZero() || !d.at.IsZero() || f.calls != 2 {
		t.Fatalf("Clear: deadline %v, recorded %v, %d calls, error %v; want none, 2 calls", f.at, d.at, f.calls, err)
	}
}

// A failed set moves nothing, so the recorded deadline stays, and the
// next Extend tries again.
func TestLazySetError(t *testing.T) {
	boom := errors.New("use of closed network connection")
	f := fakeDeadline{err: boom}
	var d Lazy
	now := time.Now()
	if err := d.ExtendAt(f.set, now, time.Second); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if !d.at.IsZero() {
		t.Errorf("recorded deadline %v after a failed set, want none", d.at)
	}
	if err := d.ExtendAt(f.set, now, time.Second); !errors.Is(err, boom) || f.calls != 2 {
		t.Errorf("second Extend: %d calls, error %v; want 2 calls and %v", f.calls, err, boom)
	}
}

// Extend allocates nothing: the setter passed, a method value, stays on
// the caller's stack.
func TestLazyNoAllocs(t *testing.T) {
	var f fakeDeadline
	var d Lazy
	allocs := testing.AllocsPerRun(100, func() {
		_ = d.Extend(f.set, time.Minute)
		_ = d.Extend(f.set, 0)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Extend, want 0", allocs)
	}
}

func TestForgetMakesTheNextCallSet(t *testing.T) {
	var f fakeDeadline
	var d Lazy
	now := time.Now()
	if err := d.ExtendAt(f.set, now, time.Minute); err != nil || f.calls != 1 {
		t.Fatalf("first extension: err %v, %d calls", err, f.calls)
	}
	if _ = d.ExtendAt(f.set, now, time.Minute); f.calls != 1 {
		t.Fatalf("a second extension at once made a call")
	}
	d.Forget()
	if _ = d.ExtendAt(f.set, now, time.Minute); f.calls != 2 {
		t.Fatalf("an extension after Forget made no call")
	}
	d.Forget()
	if _ = d.Clear(f.set); f.calls != 3 || !f.at.IsZero() {
		t.Fatalf("Clear after Forget: %d calls, deadline %v", f.calls, f.at)
	}
	if _ = d.Clear(f.set); f.calls != 3 {
		t.Fatalf("a second Clear made a call")
	}
}

func TestWithinKeepsADeadlineInsideTheWindow(t *testing.T) {
	var f fakeDeadline
	var d Lazy
	now := time.Now()
	_ = d.Within(f.set, now, 200*time.Millisecond, 400*time.Millisecond)
	if f.calls != 1 || !f.at.Equal(now.Add(400*time.Millisecond)) {
		t.Fatalf("first call: %d calls, deadline %v after now", f.calls, f.at.Sub(now))
	}
	// 150ms later the deadline is 250ms away: inside [200ms, 400ms].
	_ = d.Within(f.set, now.Add(150*time.Millisecond), 200*time.Millisecond, 400*time.Millisecond)
	if f.calls != 1 {
		t.Fatalf("a deadline inside the window was moved")
	}
	// 250ms later it is 150ms away: too close, moved.
	_ = d.Within(f.set, now.Add(250*time.Millisecond), 200*time.Millisecond, 400*time.Millisecond)
	if f.calls != 2 || !f.at.Equal(now.Add(650*time.Millisecond)) {
		t.Fatalf("a deadline too close: %d calls, deadline %v after now", f.calls, f.at.Sub(now))
	}
}

func TestSetAt(t *testing.T) {
	now := time.Now()
	past := now.Add(-time.Second)
	var f fakeDeadline
	var d Lazy
	if _ = d.SetAt(f.set, now, past); f.calls != 1 || !f.at.Equal(past) {
		t.Fatalf("a past deadline: %d calls, at %v", f.calls, f.at)
	}
	if _ = d.SetAt(f.set, now, past); f.calls != 2 {
		t.Fatalf("a past deadline asked for again was not set: it must interrupt I/O each time")
	}
	want := now.Add(time.Minute)
	if _ = d.SetAt(f.set, now, want); f.calls != 3 || f.at.Before(want) || f.at.After(want.Add(MaxSlack)) {
		t.Fatalf("a future deadline: %d calls, %v from the one asked for", f.calls, f.at.Sub(want))
	}
	if _ = d.SetAt(f.set, now.Add(time.Millisecond), want.Add(time.Millisecond)); f.calls != 3 {
		t.Fatalf("a deadline within slack of the one in place was set again")
	}
	if _ = d.SetAt(f.set, now, time.Time{}); f.calls != 4 || !f.at.IsZero() {
		t.Fatalf("a zero deadline did not clear: %d calls", f.calls)
	}
}
