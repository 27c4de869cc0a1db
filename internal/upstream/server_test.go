package upstream

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Failure accounting follows nginx: max_fails failures within one
// fail_timeout window make the server unavailable for fail_timeout.
func TestFailureAccounting(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at        time.Duration // since t0
		fail      bool          // record a failure (else a success)
		became    bool          // RecordFailure's answer
		available bool          // Available right after the step
	}
	tests := []struct {
		name     string
		maxFails int
		steps    []step
	}{
		{"max_fails=1 disables at once, for fail_timeout", 1, []step{
			{0, true, true, false},
			{5 * time.Second, false, false, false},
			{10 * time.Second, false, false, true},
		}},
		{"max_fails=3 needs three in the window", 3, []step{
			{0, true, false, true},
			{time.Second, true, false, true},
			{2 * time.Second, true, true, false},
		}},
		{"failures outside the window are forgotten", 2, []step{
			{0, true, false, true},
			{11 * time.Second, true, false, true},
			{12 * time.Second, true, true, false},
		}},
		{"max_fails=0 never disables", 0, []step{
			{0, true, false, true},
			{time.Second, true, false, true},
		}},
		{"a failure after the timeout disables again", 1, []step{
			{0, true, true, false},
			{11 * time.Second, true, true, false},
			{20 * time.Second, true, false, false},
			{31 * time.Second, false, false, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{Addr: "127.0.0.1:1", MaxFails: tt.maxFails, FailTimeout: 10 * time.Second}
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				if st.fail {
					if got := s.RecordFailure(now); got != st.became {
						t.Errorf("step %d: RecordFailure = %v, want %v", i, got, st.became)
					}
				} else {
					s.RecordSuccess(now)
				}
				if got := s.Available(now); got != st.available {
					t.Errorf("step %d: Available = %v, want %v", i, got, st.available)
				}
			}
		})
	}
}

func TestDownAndReset(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := &Server{MaxFails: 1, FailTimeout: time.Minute}
	s.SetDown(true)
	if s.Available(now) || s.Failed(now) {
		t.Error("a server marked down is unavailable but not failed")
	}
	s.SetDown(false)
	s.RecordFailure(now)
	if !s.Failed(now) {
		t.Fatal("a failed server must report Failed")
	}
	s.ResetFailures()
	if !s.Available(now) {
		t.Error("ResetFailures must make the server available at once")
	}
}

func TestPool(t *testing.T) {
	a := &Server{ID: "a"}
	b := &Server{ID: "b", Backup: true}
	dup := &Server{ID: "a"}
	p := NewPool("up", []*Server{a, b, dup})
	if len(p.Primary) != 2 || len(p.Backup) != 1 {
		t.Fatalf("primary %d backup %d, want 2 and 1", len(p.Primary), len(p.Backup))
	}
	if p.Lookup("a") != a || p.Lookup("b") != b || p.Lookup("c") != nil {
		t.Error("Lookup by ID is wrong")
	}
	if got := p.All(); len(got) != 3 || got[2] != b {
		t.Errorf("All = %v", got)
	}
}

func TestStatesAndSlowStart(t *testing.T) {
	now := time.Now()
	s := &Server{Weight: 100, MaxFails: 1, FailTimeout: time.Minute, SlowStart: time.Hour}
	steps := []struct {
		do         func()
		state      string
		available  bool
		acceptsNew bool
	}{
		{func() {}, StateUp, true, true},
		{func() { s.SetDraining(true) }, StateDraining, true, false},
		{func() { s.SetDraining(false); s.SetHealth(HealthChecking, now) }, StateChecking, false, false},
		{func() { s.SetHealth(HealthUnhealthy, now) }, StateUnhealthy, false, false},
		{func() { s.SetHealth(HealthHealthy, now) }, StateUp, true, true},
		{func() { s.RecordFailure(now) }, StateUnavail, false, false},
		{func() { s.SetDown(true) }, StateDown, false, false},
	}
	for i, st := range steps {
		st.do()
		if got := s.State(now); got != st.state {
			t.Errorf("step %d: state %q, want %q", i, got, st.state)
		}
		if s.Available(now) != st.available || s.AcceptsNew(now) != st.acceptsNew {
			t.Errorf("step %d (%s): Available %v AcceptsNew %v, want %v %v", i, st.state, s.Available(now), s.AcceptsNew(now), st.available, st.acceptsNew)
		}
	}
	// Back from unhealthy, the weight starts its slow start ramp low.
	if w := s.RampWeight(100); w != 10 {
		t.Errorf("weight right after recovery: %d, want 10 (a tenth)", w)
	}
	plain := &Server{Weight: 100}
	if w := plain.RampWeight(100); w != 100 {
		t.Errorf("without slow start the weight is %d, want 100", w)
	}
	snap := s.Snapshot(now.Add(time.Second))
	if snap.Unhealthy != 1 || snap.Unavail != 1 || snap.Downtime <= 0 {
		t.Errorf("snapshot %+v: want one unhealthy period, one unavail, some downtime", snap)
	}
}

// Downtime never runs past the end of a failure timeout that ran out
// unobserved, and the pool's lone-server rule follows its servers.
func TestDowntimeAndLone(t *testing.T) {
	t0 := time.Now()
	s := &Server{MaxFails: 1, FailTimeout: time.Second}
	s.RecordFailure(t0)
	first := s.Snapshot(t0.Add(3 * time.Second))
	second := s.Snapshot(t0.Add(4 * time.Second))
	if first.Downtime != time.Second || second.Downtime != time.Second || !first.DownStart.IsZero() {
		t.Errorf("downtime %v then %v (downstart %v), want 1s both times and no downstart once up", first.Downtime, second.Downtime, first.DownStart)
	}
	if !NewPool("a", []*Server{{ID: "x"}}).Lone() || NewPool("a", []*Server{{ID: "x"}, {ID: "y"}}).Lone() {
		t.Error("Lone is wrong")
	}
}

func TestAcquireMaxConns(t *testing.T) {
	tests := []struct {
		name     string
		maxConns int
		inFlight int  // slots taken before the call
		want     bool // Acquire's answer
		full     bool // Full before the call
	}{
		{"no bound", 0, 1000, true, false},
		{"below the bound", 2, 1, true, false},
		{"at the bound", 2, 2, false, true},
		{"above the bound", 1, 3, false, true}, // Begin does not look at max_conns
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{MaxConns: tt.maxConns}
			for range tt.inFlight {
				s.Begin()
			}
			if got := s.Full(); got != tt.full {
				t.Fatalf("Full() = %v, want %v", got, tt.full)
			}
			if got := s.Acquire(); got != tt.want {
				t.Fatalf("Acquire() = %v, want %v", got, tt.want)
			}
			want := int64(tt.inFlight)
			if tt.want {
				want++
			}
			if s.Active() != want {
				t.Fatalf("Active() = %d, want %d", s.Active(), want)
			}
		})
	}
}

// TestAcquireConcurrent checks that racing requests never take more slots
// than max_conns between them.
func TestAcquireConcurrent(t *testing.T) {
	const maxConns, racers = 3, 64
	s := &Server{MaxConns: maxConns}
	var won atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if s.Acquire() {
				won.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if won.Load() != maxConns || s.Active() != maxConns {
		t.Fatalf("%d acquired, %d active; want %d", won.Load(), s.Active(), maxConns)
	}
	s.End()
	if !s.Acquire() || s.Acquire() {
		t.Fatal("one slot given back must be taken once")
	}
}
