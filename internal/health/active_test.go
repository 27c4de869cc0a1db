package health

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

const tick = 20 * time.Millisecond // the interval of the end-to-end tests

// slack is what the race detector and a busy machine may add to timings.
const slack = 2 * time.Second

// gated is a backend handler that answers 200 once open is closed, and
// gives up when the client goes away.
func gated(open <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-open:
		case <-r.Context().Done():
			return
		}
	}
}

// checks returns how many checks of s have completed.
func checks(s *upstream.Server) int64 { return s.Snapshot(time.Now()).Checks }

// TestMandatoryStartsChecking checks that Start puts every server of a
// mandatory check in "checking" before it returns, and that the first
// passed check brings them up.
func TestMandatoryStartsChecking(t *testing.T) {
	open := make(chan struct{})
	_, a := backend(t, gated(open))
	_, b := backend(t, gated(open))
	log, rec := newLog()
	c := New([]Check{{
		Upstream: newUpstream("backend", a, b),
		Config:   &config.HealthCheck{Interval: tick, Mandatory: true, Passes: 3},
	}}, log)
	t.Cleanup(c.Close) // before the backends close: cancels the probes they hold
	c.Start()
	now := time.Now()
	for _, s := range []*upstream.Server{a, b} {
		if s.Health() != upstream.HealthChecking || s.State(now) != upstream.StateChecking || s.Available(now) {
			t.Fatalf("%s after Start: health %v, state %q, available %v; want checking", s.Addr, s.Health(), s.State(now), s.Available(now))
		}
	}
	close(open)
	for _, s := range []*upstream.Server{a, b} {
		waitFor(t, slack, s.Addr+" healthy", func() bool { return s.Health() == upstream.HealthHealthy })
		if !s.Available(time.Now()) {
			t.Errorf("%s healthy but not available", s.Addr)
		}
		// The log follows the change of health, so it may come a moment
		// after the health the test saw.
		waitFor(t, slack, s.Addr+" first-pass log", func() bool { return len(rec.find(msgFirst, s.Addr)) > 0 })
		if n := len(rec.find(msgFirst, s.Addr)); n != 1 {
			t.Errorf("%s: %d logs of its first pass, want 1", s.Addr, n)
		}
	}
}

// TestServerStopsAnswering checks that a server that goes away becomes
// unhealthy within interval×fails, that this is logged once, and that its
// neighbour is left alone.
func TestServerStopsAnswering(t *testing.T) {
	ok := reply{status: 200}.serve
	tsA, a := backend(t, ok)
	_, b := backend(t, ok)
	log, rec := newLog()
	const fails = 2
	c := New([]Check{{
		Upstream:       newUpstream("backend", a, b),
		Config:         &config.HealthCheck{Interval: tick, Fails: fails},
		ConnectTimeout: 200 * time.Millisecond,
		ReadTimeout:    200 * time.Millisecond,
	}}, log)
	t.Cleanup(c.Close)
	c.Start()
	for _, s := range []*upstream.Server{a, b} {
		waitFor(t, slack, s.Addr+" healthy", func() bool { return s.Health() == upstream.HealthHealthy })
	}

	tsA.Close()
	closed := time.Now()
	waitFor(t, tick*fails+slack, "a unhealthy", func() bool { return a.Health() == upstream.HealthUnhealthy })
	t.Logf("unhealthy %v after the server closed (interval %v, fails %d)", time.Since(closed), tick, fails)
	if a.Available(time.Now()) || a.State(time.Now()) != upstream.StateUnhealthy {
		t.Errorf("unhealthy server: available %v, state %q", a.Available(time.Now()), a.State(time.Now()))
	}

	// More failed rounds log nothing more.
	n := checks(a)
	waitFor(t, slack, "five more checks of a", func() bool { return checks(a) >= n+5 })
	logs := rec.find(msgUnhealthy, a.Addr)
	if len(logs) != 1 {
		t.Fatalf("%d unhealthy logs for a, want 1", len(logs))
	}
	if r := logs[0]; r.level.String() != "WARN" || r.attrs["upstream"] != "backend" || !strings.Contains(r.attrs["reason"], "connection refused") {
		t.Errorf("unhealthy log = %+v, want a warning naming the upstream and the refused connection", r)
	}
	if b.Health() != upstream.HealthHealthy || len(rec.find(msgUnhealthy, b.Addr)) != 0 {
		t.Errorf("b: health %v, unhealthy logs %d; want healthy and none", b.Health(), len(rec.find(msgUnhealthy, b.Addr)))
	}
}

// TestServerSetChanges checks that a server added at run time is probed
// (starting in "checking" under a mandatory check) and that a removed one
// is not probed any more.
func TestServerSetChanges(t *testing.T) {
	_, a := backend(t, reply{status: 200}.serve)
	open := make(chan struct{})
	var hitsB atomic.Int64
	_, b := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hitsB.Add(1)
		gated(open)(w, r)
	})
	up := newUpstream("backend", a)
	c := New([]Check{{Upstream: up, Config: &config.HealthCheck{Interval: tick, Mandatory: true}}}, nil)
	t.Cleanup(c.Close)
	c.Start()
	waitFor(t, slack, "a healthy", func() bool { return a.Health() == upstream.HealthHealthy })

	add := func(cur []*upstream.Server) ([]*upstream.Server, error) { return append(cur, b), nil }
	if err := up.Update(add); err != nil {
		t.Fatal(err)
	}
	waitFor(t, slack, "b probed", func() bool { return hitsB.Load() > 0 })
	if h := b.Health(); h != upstream.HealthChecking {
		t.Errorf("added server while its first check runs: health %v, want checking", h)
	}
	close(open)
	waitFor(t, slack, "b healthy", func() bool { return b.Health() == upstream.HealthHealthy })

	remove := func(cur []*upstream.Server) ([]*upstream.Server, error) {
		return slices.DeleteFunc(cur, func(s *upstream.Server) bool { return s == b }), nil
	}
	if err := up.Update(remove); err != nil {
		t.Fatal(err)
	}
	n := checks(a)
	waitFor(t, slack, "a round after the removal", func() bool { return checks(a) >= n+2 })
	before := hitsB.Load()
	n = checks(a)
	waitFor(t, slack, "five more rounds", func() bool { return checks(a) >= n+5 })
	if after := hitsB.Load(); after != before {
		t.Errorf("removed server got %d more probes", after-before)
	}
}

// TestSlowServer checks that a probe still running when the next round is
// due is not started twice.
func TestSlowServer(t *testing.T) {
	var mu sync.Mutex // guards inflight, peak
	inflight, peak := 0, 0
	var hits atomic.Int64
	_, s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		inflight++
		peak = max(peak, inflight)
		mu.Unlock()
		time.Sleep(30 * time.Millisecond) // six intervals
		mu.Lock()
		inflight-- // before the answer is sent, so before the probe ends
		mu.Unlock()
	})
	c := New([]Check{{
		Upstream: newUpstream("backend", s),
		Config:   &config.HealthCheck{Interval: 5 * time.Millisecond},
	}}, nil)
	t.Cleanup(c.Close)
	c.Start()
	waitFor(t, slack, "four probes", func() bool { return checks(s) >= 4 })
	mu.Lock()
	p := peak
	mu.Unlock()
	if p != 1 {
		t.Errorf("%d probes of one server at once, want 1", p)
	}
	if h := s.Health(); h != upstream.HealthHealthy {
		t.Errorf("slow but answering server: health %v, want healthy", h)
	}
}

// TestHangingServer checks that a server that never answers fails on the
// read timeout.
func TestHangingServer(t *testing.T) {
	_, s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hangs until the probe gives up
	})
	log, rec := newLog()
	c := New([]Check{{
		Upstream:    newUpstream("backend", s),
		Config:      &config.HealthCheck{Interval: 5 * time.Millisecond, Fails: 2},
		ReadTimeout: 30 * time.Millisecond,
	}}, log)
	t.Cleanup(c.Close)
	c.Start()
	waitFor(t, 2*30*time.Millisecond+slack, "unhealthy", func() bool { return s.Health() == upstream.HealthUnhealthy })
	waitFor(t, slack, "the unhealthy log", func() bool { return len(rec.find(msgUnhealthy, s.Addr)) > 0 }) // it follows the change
	if logs := rec.find(msgUnhealthy, s.Addr); len(logs) != 1 || !strings.Contains(logs[0].attrs["reason"], "timed out") {
		t.Errorf("unhealthy logs = %+v, want one naming the timeout", logs)
	}
}

// TestCloseReturnsPromptly checks that Close cancels a probe in flight
// instead of waiting for its timeout, and a probe waiting its jitter.
func TestCloseReturnsPromptly(t *testing.T) {
	entered := make(chan struct{}, 1)
	_, hanging := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	})
	_, jittered := backend(t, reply{status: 200}.serve)
	c := New([]Check{
		{Upstream: newUpstream("hanging", hanging), Config: &config.HealthCheck{Interval: time.Hour},
			ConnectTimeout: time.Minute, ReadTimeout: time.Minute},
		{Upstream: newUpstream("jittered", jittered), Config: &config.HealthCheck{Interval: time.Hour, Jitter: time.Hour}},
	}, nil)
	var mu sync.Mutex // guards asked
	var asked []time.Duration
	c.jitter = func(max time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, max)
		return max // the longest delay allowed
	}
	c.Start()
	select {
	case <-entered:
	case <-time.After(slack):
		t.Fatal("the hanging server was never probed")
	}
	start := time.Now()
	c.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(asked, []time.Duration{time.Hour}) {
		t.Errorf("jitter asked for %v, want one delay of up to 1h", asked)
	}
	if n := checks(hanging) + checks(jittered); n != 0 {
		t.Errorf("%d checks recorded; cancelled probes must record none", n)
	}
	c.Close() // a second Close is harmless
}
