package health

import (
	"slices"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

const (
	msgUnhealthy = "upstream server is unhealthy"
	msgHealthy   = "upstream server is healthy again"
	msgFirst     = "upstream server passed its first health check"
)

// TestThresholds feeds probe results to one check's accounting and
// follows the server's health after each.
func TestThresholds(t *testing.T) {
	const (
		unknown   = upstream.HealthUnknown
		checking  = upstream.HealthChecking
		healthy   = upstream.HealthHealthy
		unhealthy = upstream.HealthUnhealthy
	)
	type step struct {
		pass bool
		want upstream.Health
	}
	P := func(want upstream.Health) step { return step{true, want} }
	F := func(want upstream.Health) step { return step{false, want} }
	tests := []struct {
		name    string
		cfg     config.HealthCheck
		initial upstream.Health
		steps   []step
		logs    []string // messages logged, in order
	}{
		{"defaults flip on one result", config.HealthCheck{}, unknown,
			[]step{P(healthy), F(unhealthy), P(healthy), F(unhealthy)},
			[]string{msgUnhealthy, msgHealthy, msgUnhealthy}},
		{"fails=2 passes=2", config.HealthCheck{Fails: 2, Passes: 2}, unknown,
			[]step{F(unknown), F(unhealthy), P(unhealthy), P(healthy), F(healthy), P(healthy), F(healthy), F(unhealthy)},
			[]string{msgUnhealthy, msgHealthy, msgUnhealthy}},
		{"failures must be consecutive", config.HealthCheck{Fails: 2, Passes: 2}, unknown,
			[]step{F(unknown), P(healthy), F(healthy), P(healthy), F(healthy), P(healthy)},
			nil},
		{"passes must be consecutive", config.HealthCheck{Fails: 1, Passes: 3}, unknown,
			[]step{F(unhealthy), P(unhealthy), P(unhealthy), F(unhealthy), P(unhealthy), P(unhealthy), P(healthy)},
			[]string{msgUnhealthy, msgHealthy}},
		{"mandatory: the first pass decides", config.HealthCheck{Mandatory: true, Fails: 2, Passes: 3}, checking,
			[]step{P(healthy), F(healthy), F(unhealthy)},
			[]string{msgFirst, msgUnhealthy}},
		{"mandatory: the first failure decides", config.HealthCheck{Mandatory: true, Fails: 2, Passes: 2}, checking,
			[]step{F(unhealthy), P(unhealthy), P(healthy)},
			[]string{msgUnhealthy, msgHealthy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer("192.0.2.1:80")
			log, rec := newLog()
			c := New([]Check{{Upstream: newUpstream("backend", s), Config: &tt.cfg}}, log)
			tick := time.Unix(1000, 0)
			c.now = func() time.Time { return tick }
			tg := c.attach(c.checks[0], s)
			if got := s.Health(); got != tt.initial {
				t.Fatalf("health after attach = %v, want %v", got, tt.initial)
			}
			fails := 0
			for i, st := range tt.steps {
				reason := ""
				if !st.pass {
					fails++
					reason = "status 500 is not 2xx or 3xx"
				}
				c.observe(tg, st.pass, reason)
				if got := s.Health(); got != st.want {
					t.Fatalf("after step %d (pass=%v): health = %v, want %v", i+1, st.pass, got, st.want)
				}
			}
			snap := s.Snapshot(tick)
			if snap.Checks != int64(len(tt.steps)) || snap.CheckFails != int64(fails) {
				t.Errorf("checks %d, fails %d; want %d, %d", snap.Checks, snap.CheckFails, len(tt.steps), fails)
			}
			var got []string
			for _, r := range rec.all() {
				got = append(got, r.msg)
				if r.attrs["upstream"] != "backend" || r.attrs["server"] != s.Addr {
					t.Errorf("log %q attrs = %v, want upstream and server", r.msg, r.attrs)
				}
				if r.msg == msgUnhealthy && r.attrs["reason"] != "status 500 is not 2xx or 3xx" {
					t.Errorf("unhealthy reason = %q", r.attrs["reason"])
				}
			}
			if !slices.Equal(got, tt.logs) {
				t.Errorf("logged %q, want %q", got, tt.logs)
			}
		})
	}
}

// TestSeveralChecks checks that a server is healthy only when every check
// on its upstream says so, and that transitions of the combination, not
// of each check, are logged.
func TestSeveralChecks(t *testing.T) {
	s := newServer("192.0.2.1:80")
	up := newUpstream("backend", s)
	log, rec := newLog()
	c := New([]Check{
		{Upstream: up, Config: &config.HealthCheck{URI: "/a", Pos: config.Pos{File: "limpet.conf", Line: 10}}},
		{Upstream: up, Config: &config.HealthCheck{URI: "/b", Fails: 2, Pos: config.Pos{File: "limpet.conf", Line: 20}}},
	}, log)
	a, b := c.attach(c.checks[0], s), c.attach(c.checks[1], s)
	steps := []struct {
		t    *target
		pass bool
		want upstream.Health
	}{
		{a, true, upstream.HealthUnknown}, // b has said nothing yet
		{b, true, upstream.HealthHealthy},
		{a, false, upstream.HealthUnhealthy},
		{b, false, upstream.HealthUnhealthy}, // b: one failure of two
		{b, false, upstream.HealthUnhealthy}, // b: unhealthy too
		{a, true, upstream.HealthUnhealthy},  // b still fails
		{b, true, upstream.HealthHealthy},
	}
	for i, st := range steps {
		c.observe(st.t, st.pass, "failed "+st.t.k.uri)
		if got := s.Health(); got != st.want {
			t.Fatalf("step %d: health = %v, want %v", i+1, got, st.want)
		}
	}
	logs := rec.all()
	if len(logs) != 2 || logs[0].msg != msgUnhealthy || logs[1].msg != msgHealthy {
		t.Fatalf("logs = %+v, want one unhealthy and one healthy again", logs)
	}
	if logs[0].attrs["reason"] != "failed /a" || logs[0].attrs["health_check"] != "limpet.conf:10" {
		t.Errorf("unhealthy log attrs = %v, want the failing check's reason and position", logs[0].attrs)
	}

	// A removed server's late results change nothing.
	c.detach(a)
	c.observe(a, false, "late")
	if got := s.Health(); got != upstream.HealthHealthy {
		t.Errorf("after a late result of a detached check: health = %v", got)
	}
}

// TestMandatoryPersistent checks that `mandatory persistent` keeps a
// healthy server up when the checks start again (a reload).
func TestMandatoryPersistent(t *testing.T) {
	for _, tt := range []struct {
		persistent bool
		was, want  upstream.Health
	}{
		{true, upstream.HealthHealthy, upstream.HealthHealthy},
		{false, upstream.HealthHealthy, upstream.HealthChecking},
		{true, upstream.HealthUnknown, upstream.HealthChecking},
	} {
		s := newServer("192.0.2.1:80")
		s.SetHealth(tt.was, time.Now())
		c := New([]Check{{Upstream: newUpstream("backend", s), Config: &config.HealthCheck{Mandatory: true, Persistent: tt.persistent}}}, nil)
		c.attach(c.checks[0], s)
		if got := s.Health(); got != tt.want {
			t.Errorf("persistent=%v, health was %v: now %v, want %v", tt.persistent, tt.was, got, tt.want)
		}
	}
}

// TestMandatory checks the question the API asks before adding a server.
func TestMandatory(t *testing.T) {
	s := newServer("192.0.2.1:80")
	plain, strict, other := newUpstream("plain", s), newUpstream("strict", s), newUpstream("other", s)
	c := New([]Check{
		{Upstream: plain, Config: &config.HealthCheck{}},
		{Upstream: strict, Config: &config.HealthCheck{}},
		{Upstream: strict, Config: &config.HealthCheck{Mandatory: true}},
	}, nil)
	if c.Mandatory(plain) || !c.Mandatory(strict) || c.Mandatory(other) {
		t.Errorf("Mandatory: plain %v, strict %v, other %v; want false, true, false",
			c.Mandatory(plain), c.Mandatory(strict), c.Mandatory(other))
	}
}

// TestInheritCarriesCountsOverAReload: a server two failures into
// fails=3 stays two failures in after the checker is rebuilt (a reload),
// so the next failure makes it unhealthy; a server that inherits another
// (a new Server for the same identity) is matched by its ID; a mandatory
// check without persistent starts over, as NGINX Plus's does.
func TestInheritCarriesCountsOverAReload(t *testing.T) {
	for _, tt := range []struct {
		name       string
		cfg        config.HealthCheck
		newServer  bool // the reload replaces the Server (max_fails changed)
		after      upstream.Health
		afterThird upstream.Health
	}{
		{"plain", config.HealthCheck{Fails: 3}, false, upstream.HealthUnknown, upstream.HealthUnhealthy},
		{"replaced server", config.HealthCheck{Fails: 3}, true, upstream.HealthUnknown, upstream.HealthUnhealthy},
		{"mandatory persistent", config.HealthCheck{Fails: 3, Mandatory: true, Persistent: true}, false, upstream.HealthHealthy, upstream.HealthUnhealthy},
		{"mandatory starts over", config.HealthCheck{Fails: 3, Mandatory: true}, false, upstream.HealthChecking, upstream.HealthUnhealthy},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer("192.0.2.1:80")
			up := newUpstream("backend", s)
			old := New([]Check{{Upstream: up, Config: &tt.cfg}}, nil)
			tg := old.attach(old.checks[0], s)
			if tt.cfg.Mandatory {
				old.observe(tg, true, "")
			}
			old.observe(tg, false, "status 500")
			old.observe(tg, false, "status 500")
			old.Close()

			s2 := s
			if tt.newServer {
				s2 = newServer(s.Addr)
				s2.Inherit(s)
				_ = up.Update(func([]*upstream.Server) ([]*upstream.Server, error) { return []*upstream.Server{s2}, nil })
			}
			next := New([]Check{{Upstream: up, Config: &tt.cfg}}, nil)
			next.Inherit(old)
			tg2 := next.attach(next.checks[0], s2)
			if got := s2.Health(); got != tt.after {
				t.Fatalf("health after the reload %v, want %v", got, tt.after)
			}
			next.observe(tg2, false, "status 500")
			if got := s2.Health(); got != tt.afterThird {
				t.Errorf("health after one more failure %v, want %v", got, tt.afterThird)
			}
		})
	}
}
