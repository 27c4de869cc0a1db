package discovery

import (
	"bytes"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/discovery/dnstest"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/miekg/dns"
)

// logBuffer collects a Watcher's log.
type logBuffer struct {
	mu  sync.Mutex // guards buf: the sources' goroutines log
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

// harness is a Watcher over a live upstream with one static server,
// resolving through a real DNS server on loopback.
type harness struct {
	dns    *dnstest.Server
	u      *live.Upstream
	static *upstream.Server
	w      *Watcher
	events chan Event
	log    *logBuffer
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{dns: startDNS(t), events: make(chan Event, 1024), log: &logBuffer{}}
	h.static = &upstream.Server{ID: upstream.IDFor("127.0.0.9:80", ""), Name: "127.0.0.9", Addr: "127.0.0.9:80", Weight: 1}
	h.u = live.New("backend", live.Policy{}, []*upstream.Server{h.static})
	o.Upstream = h.u
	if o.Lookup == nil {
		o.Lookup = NewResolver(Config{Servers: []string{h.dns.Addr}, Timeout: 2 * time.Second})
	}
	o.Log = slog.New(slog.NewTextHandler(h.log, nil))
	// TTL 0 records are asked for again after MinRefresh.
	o.MinRefresh = 5 * time.Millisecond
	o.Timeout = time.Millisecond
	o.OnEvent = func(ev Event) { h.events <- ev }
	h.w = New(o)
	t.Cleanup(h.w.Close)
	return h
}

// wait reads events until one satisfies ok, and returns it.
func (h *harness) wait(t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	// A bound so that a broken watcher fails the test instead of
	// hanging it; events come every few milliseconds.
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-h.events:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event: %s", what)
		}
	}
}

// waitAddrs waits until the source of host has exactly addrs.
func (h *harness) waitAddrs(t *testing.T, host string, addrs ...string) Event {
	t.Helper()
	want := sorted(addrs)
	return h.wait(t, host+" with "+strings.Join(want, ","), func(ev Event) bool {
		return ev.Source.Host == host && ev.Err == nil && reflect.DeepEqual(sorted(ev.Addrs), want) ||
			len(want) == 0 && ev.Source.Host == host && NotFound(ev.Err) && len(ev.Addrs) == 0
	})
}

// servers returns the upstream's servers by address.
func (h *harness) servers() map[string]*upstream.Server {
	m := map[string]*upstream.Server{}
	for _, s := range h.u.Pool().All() {
		m[s.Addr] = s
	}
	return m
}

func addrsIn(p *upstream.Pool) []string {
	var out []string
	for _, s := range p.All() {
		out = append(out, s.Addr)
	}
	return sorted(out)
}

// TestWatcherFollowsRecords: addresses that appear become servers with
// the line's parameters, those that vanish are removed (their users'
// cookies then read "server_removed"), those that stay keep their server,
// and servers of other lines are left alone.
func TestWatcherFollowsRecords(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{
		Written: "app.test:8080", Host: "app.test", Port: 8080,
		Weight: 3, MaxFails: 2, FailTimeout: 5 * time.Second, SlowStart: time.Second, MaxConns: 7, Drain: true,
	}}})
	h.dns.SetA("app.test", 0, "127.0.0.2", "127.0.0.3")
	h.w.Start()
	ev := h.waitAddrs(t, "app.test", "127.0.0.2:8080", "127.0.0.3:8080")
	if !reflect.DeepEqual(sorted(ev.Added), []string{"127.0.0.2:8080", "127.0.0.3:8080"}) {
		t.Errorf("added %q", ev.Added)
	}
	if got := addrsIn(h.u.Pool()); !reflect.DeepEqual(got, []string{"127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.9:80"}) {
		t.Fatalf("servers %q", got)
	}
	s2 := h.servers()["127.0.0.2:8080"]
	want := upstream.Server{ID: upstream.IDFor("127.0.0.2:8080", ""), Name: "app.test:8080", Addr: "127.0.0.2:8080",
		Weight: 3, MaxFails: 2, FailTimeout: 5 * time.Second, SlowStart: time.Second}
	if s2.ID != want.ID || s2.Name != want.Name || s2.Weight != want.Weight || s2.MaxFails != want.MaxFails ||
		s2.FailTimeout != want.FailTimeout || s2.SlowStart != want.SlowStart || s2.MaxConns != 7 || s2.Backup || !s2.Draining() || s2.Down() {
		t.Errorf("server %+v", s2)
	}

	h.dns.SetA("app.test", 0, "127.0.0.2", "127.0.0.4")
	ev = h.waitAddrs(t, "app.test", "127.0.0.2:8080", "127.0.0.4:8080")
	if !reflect.DeepEqual(ev.Added, []string{"127.0.0.4:8080"}) || !reflect.DeepEqual(ev.Removed, []string{"127.0.0.3:8080"}) {
		t.Errorf("added %q, removed %q", ev.Added, ev.Removed)
	}
	now := h.servers()
	if now["127.0.0.2:8080"] != s2 {
		t.Errorf("the server of an address that stayed was replaced")
	}
	if now["127.0.0.9:80"] != h.static {
		t.Errorf("the static server was replaced")
	}
	if p := h.u.Pool(); !p.WasRemoved(upstream.IDFor("127.0.0.3:8080", "")) || p.WasRemoved(s2.ID) {
		t.Errorf("removed set %v", p.Removed)
	}
	if n := h.log.count(`msg="upstream server removed" upstream=backend server=127.0.0.3:8080 name=app.test`); n != 1 {
		t.Errorf("removal logged %d times:\n%s", n, h.log.buf.String())
	}

	// The same answer again changes nothing: no new snapshot.
	snap := h.u.Load()
	h.wait(t, "an unchanged answer", func(ev Event) bool { return ev.Err == nil && len(ev.Added)+len(ev.Removed) == 0 })
	if h.u.Load() != snap {
		t.Errorf("an unchanged answer made a new snapshot")
	}
}

// TestWatcherFailureKeepsServers: a failed lookup (SERVFAIL, time-out)
// keeps the last known servers and is logged once until a lookup works
// again, which is logged too; NXDOMAIN is an answer, and removes them,
// as in nginx.
func TestWatcherFailureKeepsServers(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{Written: "app.test", Host: "app.test", Port: 80, Weight: 1}}})
	h.dns.SetA("app.test", 0, "127.0.0.2")
	h.w.Start()
	h.waitAddrs(t, "app.test", "127.0.0.2:80")
	snap := h.u.Load()

	h.dns.Fail(dns.RcodeServerFailure)
	for range 3 {
		ev := h.wait(t, "a failed lookup", func(ev Event) bool { return ev.Err != nil })
		if !ev.Kept || !reflect.DeepEqual(ev.Addrs, []string{"127.0.0.2:80"}) {
			t.Fatalf("event %+v", ev)
		}
	}
	if h.u.Load() != snap {
		t.Errorf("a failed lookup changed the servers")
	}
	const failed = `level=ERROR msg="app.test could not be resolved (2: Server failure)" upstream=backend`
	if n := h.log.count(failed); n != 1 {
		t.Errorf("failure logged %d times:\n%s", n, h.log.buf.String())
	}

	h.dns.Fail(0)
	h.wait(t, "a lookup that works again", func(ev Event) bool { return ev.Err == nil })
	if n := h.log.count(`msg="app.test was resolved again" upstream=backend`); n != 1 {
		t.Errorf("recovery logged %d times:\n%s", n, h.log.buf.String())
	}
	if h.u.Load() != snap {
		t.Errorf("the same answer after a failure changed the servers")
	}

	h.dns.SetA("app.test", 0)
	ev := h.waitAddrs(t, "app.test")
	if !reflect.DeepEqual(ev.Removed, []string{"127.0.0.2:80"}) {
		t.Errorf("removed %q", ev.Removed)
	}
	if got := addrsIn(h.u.Pool()); !reflect.DeepEqual(got, []string{"127.0.0.9:80"}) {
		t.Errorf("servers %q", got)
	}
	if n := h.log.count(`msg="app.test could not be resolved (3: Host not found)"`); n != 1 {
		t.Errorf("NXDOMAIN logged %d times:\n%s", n, h.log.buf.String())
	}
}

// TestWatcherNeverResolved: a name that never resolves gives no server;
// a silent DNS server is a failure like any other.
func TestWatcherNeverResolved(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{Written: "app.test", Host: "app.test", Port: 80, Weight: 1}}})
	h.dns.Silence(true)
	h.w.o.Lookup = NewResolver(Config{Servers: []string{h.dns.Addr}, Timeout: 20 * time.Millisecond})
	h.w.Start()
	ev := h.wait(t, "a timed out lookup", func(ev Event) bool { return ev.Err != nil })
	if !strings.Contains(ev.Err.Error(), "(110: Operation timed out)") || len(ev.Addrs) != 0 {
		t.Errorf("event %+v", ev)
	}
	if got := addrsIn(h.u.Pool()); !reflect.DeepEqual(got, []string{"127.0.0.9:80"}) {
		t.Errorf("servers %q", got)
	}
}

// TestWatcherSRV: SRV records give the port and, for a line of weight 1,
// the weight; the best priority serves, the others are backup servers of
// a primary line and left out of a backup line or without backups.
func TestWatcherSRV(t *testing.T) {
	records := []dnstest.SRV{
		{Priority: 1, Weight: 5, Port: 8081, Target: "a.svc.test"},
		{Priority: 1, Weight: 1, Port: 8082, Target: "b.svc.test"},
		{Priority: 2, Weight: 7, Port: 8083, Target: "c.svc.test"},
	}
	type server struct {
		Addr, Name string
		Weight     int
		Backup     bool
	}
	tests := []struct {
		name     string
		src      Source
		noBackup bool
		want     []server
	}{
		{"SRV weights", Source{Host: "svc.test", Service: "http", Weight: 1}, false, []server{
			{"127.0.0.5:8081", "a.svc.test", 5, false}, {"127.0.0.6:8082", "b.svc.test", 1, false}, {"127.0.0.7:8083", "c.svc.test", 7, true},
		}},
		{"line's weight wins", Source{Host: "svc.test", Service: "_http._tcp", Weight: 2}, false, []server{
			{"127.0.0.5:8081", "a.svc.test", 2, false}, {"127.0.0.6:8082", "b.svc.test", 2, false}, {"127.0.0.7:8083", "c.svc.test", 2, true},
		}},
		{"backup line", Source{Host: "svc.test", Service: "http", Weight: 1, Backup: true}, false, []server{
			{"127.0.0.5:8081", "a.svc.test", 5, true}, {"127.0.0.6:8082", "b.svc.test", 1, true},
		}},
		{"method without backups", Source{Host: "svc.test", Service: "http", Weight: 1}, true, []server{
			{"127.0.0.5:8081", "a.svc.test", 5, false}, {"127.0.0.6:8082", "b.svc.test", 1, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.Written = tt.src.Host
			h := newHarness(t, Options{Sources: []Source{tt.src}, NoBackup: tt.noBackup})
			h.dns.SetSRV("_http._tcp.svc.test", 0, records...)
			h.dns.SetA("a.svc.test", 0, "127.0.0.5")
			h.dns.SetA("b.svc.test", 0, "127.0.0.6")
			h.dns.SetA("c.svc.test", 0, "127.0.0.7")
			h.w.Start()
			h.wait(t, "the SRV servers", func(ev Event) bool { return len(ev.Addrs) == len(tt.want) })
			var got []server
			for _, s := range h.u.Pool().All() {
				if s != h.static {
					got = append(got, server{s.Addr, s.Name, s.Weight, s.Backup})
				}
			}
			slices.SortFunc(got, func(a, b server) int { return strings.Compare(a.Addr, b.Addr) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestWatcherSRVChanges: a weight that changes is changed in place; a
// record that moves between priorities moves its server between primary
// and backup with its state (the same API number, the same counters).
func TestWatcherSRVChanges(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{Written: "svc.test", Host: "svc.test", Service: "http", Weight: 1}}})
	h.dns.SetA("a.svc.test", 0, "127.0.0.5")
	h.dns.SetA("b.svc.test", 0, "127.0.0.6")
	h.dns.SetSRV("_http._tcp.svc.test", 0,
		dnstest.SRV{Priority: 1, Weight: 5, Port: 8081, Target: "a.svc.test"},
		dnstest.SRV{Priority: 1, Weight: 1, Port: 8082, Target: "b.svc.test"})
	h.w.Start()
	h.waitAddrs(t, "svc.test", "127.0.0.5:8081", "127.0.0.6:8082")
	a, b := h.servers()["127.0.0.5:8081"], h.servers()["127.0.0.6:8082"]
	b.Begin()
	b.End()

	h.dns.SetSRV("_http._tcp.svc.test", 0,
		dnstest.SRV{Priority: 1, Weight: 9, Port: 8081, Target: "a.svc.test"},
		dnstest.SRV{Priority: 3, Weight: 1, Port: 8082, Target: "b.svc.test"})
	h.wait(t, "the changed records", func(ev Event) bool {
		return h.servers()["127.0.0.6:8082"].Backup
	})
	now := h.servers()
	if now["127.0.0.5:8081"] != a || a.Weight != 9 {
		t.Errorf("weight change: same server %v, weight %d", now["127.0.0.5:8081"] == a, a.Weight)
	}
	nb := now["127.0.0.6:8082"]
	if nb == b || nb.APIID != b.APIID || nb.Requests() != 1 || nb.ID != b.ID {
		t.Errorf("moved to backup: new %v, API id %d (was %d), requests %d", nb != b, nb.APIID, b.APIID, nb.Requests())
	}
	if h.u.Pool().WasRemoved(b.ID) {
		t.Errorf("a server moved to backup reads as removed")
	}
}

// TestWatcherTakeOver: a Watcher that replaces another (a reload) starts
// with the servers the other found, before any answer (here the DNS
// server says nothing): the same servers when their fixed parameters are
// unchanged, with the new weight; new ones inheriting their state when a
// fixed parameter changed; none for a line that is gone.
func TestWatcherTakeOver(t *testing.T) {
	src := Source{Written: "app.test", Host: "app.test", Port: 80, Weight: 2}
	gone := Source{Written: "gone.test", Host: "gone.test", Port: 80, Weight: 1}
	first := newHarness(t, Options{Sources: []Source{src, gone}})
	first.dns.SetA("app.test", 0, "127.0.0.2", "127.0.0.3")
	first.dns.SetA("gone.test", 0, "127.0.0.4")
	first.w.Start()
	first.waitAddrs(t, "app.test", "127.0.0.2:80", "127.0.0.3:80")
	first.waitAddrs(t, "gone.test", "127.0.0.4:80")
	first.w.Close()
	old := first.servers()
	old["127.0.0.3:80"].Begin()
	old["127.0.0.3:80"].End()

	tests := []struct {
		name    string
		change  func(*Source)
		same    bool // the servers themselves are kept
		weight  int
		maxFail int
	}{
		{"weight changed", func(s *Source) { s.Weight = 5 }, true, 5, 0},
		{"max_fails changed", func(s *Source) { s.MaxFails = 3 }, false, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := src
			tt.change(&next)
			h := newHarness(t, Options{Sources: []Source{next}, Previous: first.w})
			h.dns.Silence(true)
			// The upstream is the old one, as a reload keeps it.
			h.u = first.u
			h.w.o.Upstream = first.u
			var taken []*upstream.Server
			if err := h.u.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
				taken = h.w.TakeOver()
				return append([]*upstream.Server{first.static}, taken...), nil
			}); err != nil {
				t.Fatal(err)
			}
			h.w.Start()
			got := h.servers()
			if addrs := addrsIn(h.u.Pool()); !reflect.DeepEqual(addrs, []string{"127.0.0.2:80", "127.0.0.3:80", "127.0.0.9:80"}) {
				t.Fatalf("servers %q", addrs)
			}
			s3 := got["127.0.0.3:80"]
			if (s3 == old["127.0.0.3:80"]) != tt.same || s3.Weight != tt.weight || s3.MaxFails != tt.maxFail {
				t.Errorf("server kept %v, weight %d, max_fails %d", s3 == old["127.0.0.3:80"], s3.Weight, s3.MaxFails)
			}
			if s3.Requests() != 1 || s3.APIID != old["127.0.0.3:80"].APIID {
				t.Errorf("state not carried: requests %d, API id %d (was %d)", s3.Requests(), s3.APIID, old["127.0.0.3:80"].APIID)
			}
			if !h.u.Pool().WasRemoved(upstream.IDFor("127.0.0.4:80", "")) || h.u.Pool().WasRemoved(s3.ID) {
				t.Errorf("removed %v", h.u.Pool().Removed)
			}
			if again := h.w.TakeOver(); len(again) != len(taken) {
				t.Errorf("a second TakeOver gave %d servers, the first %d", len(again), len(taken))
			}
			h.w.Close()
			// Put the old servers back for the next case.
			if err := first.u.Update(func([]*upstream.Server) ([]*upstream.Server, error) {
				return []*upstream.Server{first.static, old["127.0.0.2:80"], old["127.0.0.3:80"], old["127.0.0.4:80"]}, nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}

	// Without a caller putting them in, Start adds the servers taken over.
	h := newHarness(t, Options{Sources: []Source{src}, Previous: first.w})
	h.dns.Silence(true)
	h.w.Start()
	if addrs := addrsIn(h.u.Pool()); !reflect.DeepEqual(addrs, []string{"127.0.0.2:80", "127.0.0.3:80", "127.0.0.9:80"}) {
		t.Fatalf("servers at start %q", addrs)
	}
}

// TestWatcherClose: Close ends a lookup under way (the DNS server is
// silent and the timeout an hour) and every goroutine; no event follows.
func TestWatcherClose(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{
		{Written: "a.test", Host: "a.test", Port: 80, Weight: 1},
		{Written: "b.test", Host: "b.test", Port: 80, Weight: 1},
	}})
	h.dns.Silence(true)
	h.w.o.Lookup = NewResolver(Config{Servers: []string{h.dns.Addr}, Timeout: time.Hour})
	h.w.Start()
	<-h.dns.Queried()
	h.w.Close()
	h.w.Close() // a second Close is harmless
	select {
	case ev := <-h.events:
		t.Errorf("event after Close: %+v", ev)
	default:
	}
}

// TestWatcherKeepsAPIWeight: a weight the API gives a resolved server
// is not undone by the next answer, only by a change of the records.
func TestWatcherKeepsAPIWeight(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{Written: "svc.test", Host: "svc.test", Service: "http", Weight: 1}}})
	h.dns.SetA("a.svc.test", 0, "127.0.0.5")
	h.dns.SetSRV("_http._tcp.svc.test", 0, dnstest.SRV{Priority: 1, Weight: 4, Port: 8081, Target: "a.svc.test"})
	h.w.Start()
	h.waitAddrs(t, "svc.test", "127.0.0.5:8081")
	a := h.servers()["127.0.0.5:8081"]
	if err := h.u.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		a.Weight = 10
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	snap := h.u.Load()
	h.wait(t, "an unchanged answer", func(ev Event) bool { return ev.Err == nil && h.u.Load() == snap })
	h.wait(t, "another unchanged answer", func(ev Event) bool { return ev.Err == nil })
	if h.u.Load() != snap {
		t.Fatalf("an unchanged answer made a new snapshot")
	}
	h.u.View(func([]*upstream.Server) {
		if a.Weight != 10 {
			t.Errorf("weight %d after unchanged answers, want the API's 10", a.Weight)
		}
	})
	h.dns.SetSRV("_http._tcp.svc.test", 0, dnstest.SRV{Priority: 1, Weight: 6, Port: 8081, Target: "a.svc.test"})
	h.wait(t, "the new weight", func(ev Event) bool { return h.u.Load() != snap })
	h.u.View(func([]*upstream.Server) {
		if a.Weight != 6 {
			t.Errorf("weight %d after the records changed, want 6", a.Weight)
		}
	})
}

// TestWatcherAPIRemoval: a resolved server removed by the API comes back
// with the next answer that still names it.
func TestWatcherAPIRemoval(t *testing.T) {
	h := newHarness(t, Options{Sources: []Source{{Written: "app.test", Host: "app.test", Port: 80, Weight: 1}}})
	h.dns.SetA("app.test", 0, "127.0.0.2")
	h.w.Start()
	h.waitAddrs(t, "app.test", "127.0.0.2:80")
	if err := h.u.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) {
		return []*upstream.Server{h.static}, nil
	}); err != nil {
		t.Fatal(err)
	}
	h.wait(t, "the server added again", func(ev Event) bool { return slices.Contains(ev.Added, "127.0.0.2:80") })
	if got := addrsIn(h.u.Pool()); !reflect.DeepEqual(got, []string{"127.0.0.2:80", "127.0.0.9:80"}) {
		t.Errorf("servers %q", got)
	}
}
