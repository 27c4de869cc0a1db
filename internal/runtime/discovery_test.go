package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/discovery/dnstest"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/miekg/dns"
)

// dnsConf is an upstream whose servers come from DNS (A records of
// app.test, TTL 0), with persistence, the debug header and the API.
const dnsConf = `
resolver {{dns}};
resolver_timeout 500ms;
upstream backend {
    zone backend 64k;
    server app.test:{{port}} resolve;
    sticky cookie SERVERID;
}
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    sticky_debug_header on;
    location / { proxy_pass http://backend; }
    location /api/ { api; }
}`

// logLines is an error log whose lines a test waits for.
type logLines struct {
	buf   syncBuffer
	lines chan string
}

func newLogLines() *logLines { return &logLines{lines: make(chan string, 4096)} }

func (l *logLines) Write(p []byte) (int, error) {
	_, _ = l.buf.Write(p)
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		l.lines <- line
	}
	return len(p), nil
}

// wait reads log lines until one contains every part.
func (l *logLines) wait(t *testing.T, parts ...string) {
	t.Helper()
	// Only a bound against a hang: lines come within a second or two.
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-l.lines:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %q; log:\n%s", parts, l.buf.String())
		}
	}
}

// backendsOnPort starts one backend per loopback address, all on one
// port, as the servers of one name's A records are.
func backendsOnPort(t *testing.T, ips ...string) (port string, bs map[string]*backend) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ = net.SplitHostPort(first.Addr().String())
		lns := []net.Listener{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < len(ips) {
			for _, ln := range lns {
				_ = ln.Close()
			}
			continue
		}
		bs = make(map[string]*backend)
		for i, ip := range ips {
			b := &backend{name: ip}
			b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
			_ = b.srv.Listener.Close()
			b.srv.Listener = lns[i]
			b.srv.Start()
			t.Cleanup(b.stop)
			bs[ip] = b
		}
		return port, bs
	}
	t.Fatalf("no port free on every one of %v", ips)
	return "", nil
}

func startDNSServer(t *testing.T) *dnstest.Server {
	t.Helper()
	d, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// fastRefresh lowers the floor between two lookups for one test.
func fastRefresh(t *testing.T) {
	old := discoveryMinRefresh
	discoveryMinRefresh = 20 * time.Millisecond
	t.Cleanup(func() { discoveryMinRefresh = old })
}

// traffic sends requests without stopping, from users of their own,
// until stopped, and counts those that failed.
type traffic struct {
	stop   chan struct{}
	done   sync.WaitGroup
	sent   atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex // guards errs
	errs   []string
}

func startTraffic(t *testing.T, url string, users int) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	for range users {
		c := newClient(t)
		tr.done.Go(func() {
			// Bounded: a test never needs more.
			for range 20000 {
				select {
				case <-tr.stop:
					return
				default:
				}
				res, err := c.Get(url)
				tr.sent.Add(1)
				if err != nil {
					tr.fail(err.Error())
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != http.StatusOK {
					tr.fail(res.Status)
				}
			}
		})
	}
	return tr
}

func (tr *traffic) fail(why string) {
	tr.failed.Add(1)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.errs) < 10 {
		tr.errs = append(tr.errs, why)
	}
}

func (tr *traffic) finish(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.done.Wait()
	if n := tr.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the changes: %q", n, tr.sent.Load(), tr.errs)
	}
	if tr.sent.Load() == 0 {
		t.Errorf("no request was sent")
	}
}

// dnsGet returns the persistence decision and the backend of a response.
func dnsGet(t *testing.T, c *http.Client, url string) (decision, servedBy string) {
	t.Helper()
	res, body := get(t, c, url)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	return res.Header.Get("X-Limpet-Sticky"), body
}

// TestDNSDiscovery runs a limpet whose upstream's servers come from A
// records while users keep sending requests: addresses that appear take
// new users, a user of an address that vanishes is moved with
// "reassigned/server_removed", users of the others stay, a failing DNS
// server keeps the last addresses, and no request fails meanwhile.
func TestDNSDiscovery(t *testing.T) {
	fastRefresh(t)
	port, bs := backendsOnPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	d := startDNSServer(t)
	d.SetA("app.test", 0, "127.0.0.2", "127.0.0.3")
	logs := newLogLines()
	lb := startLimpetLogging(t, dnsConf, logs, &logs.buf, "{{dns}}", d.Addr, "{{port}}", port)
	addr := func(ip string) string { return net.JoinHostPort(ip, port) }
	logs.wait(t, "upstream server added", "server="+addr("127.0.0.2"), "name=app.test")
	logs.wait(t, "upstream server added", "server="+addr("127.0.0.3"))

	// Two users, one on each server (round-robin gives the second new
	// user the other server).
	users := map[string]*http.Client{}
	for range 2 {
		c := newClient(t)
		dec, by := dnsGet(t, c, lb.url+"/")
		if dec != "new/no_cookie" {
			t.Fatalf("first request: %q", dec)
		}
		users[by] = c
	}
	if users["127.0.0.2"] == nil || users["127.0.0.3"] == nil {
		t.Fatalf("users on %v", users)
	}

	tr := startTraffic(t, lb.url+"/", 4)

	// 127.0.0.3 goes, 127.0.0.4 comes.
	d.SetA("app.test", 0, "127.0.0.2", "127.0.0.4")
	logs.wait(t, "upstream server added", "server="+addr("127.0.0.4"))
	logs.wait(t, "upstream server removed", "server="+addr("127.0.0.3"))
	hits3 := bs["127.0.0.3"].hitCount()
	if dec, by := dnsGet(t, users["127.0.0.2"], lb.url+"/"); dec != "hit" || by != "127.0.0.2" {
		t.Errorf("user of an unchanged address: %q on %s", dec, by)
	}
	dec, by := dnsGet(t, users["127.0.0.3"], lb.url+"/")
	if dec != "reassigned/server_removed" || (by != "127.0.0.2" && by != "127.0.0.4") {
		t.Errorf("user of a removed address: %q on %s", dec, by)
	}
	if dec, again := dnsGet(t, users["127.0.0.3"], lb.url+"/"); dec != "hit" || again != by {
		t.Errorf("moved user's next request: %q on %s (moved to %s)", dec, again, by)
	}
	// New users reach the new address.
	reached := false
	for range 4 {
		if _, by := dnsGet(t, newClient(t), lb.url+"/"); by == "127.0.0.4" {
			reached = true
		}
	}
	if !reached {
		t.Errorf("no new user reached the added address")
	}

	// The DNS server fails: the last addresses stay.
	d.Fail(dns.RcodeServerFailure)
	logs.wait(t, "app.test could not be resolved (2: Server failure)")
	hits4 := bs["127.0.0.4"].hitCount()
	for range 4 {
		if _, by := dnsGet(t, newClient(t), lb.url+"/"); by == "127.0.0.3" {
			t.Errorf("a removed server came back")
		}
	}
	if bs["127.0.0.4"].hitCount() == hits4 {
		t.Errorf("no request reached 127.0.0.4 while DNS failed")
	}
	// It answers again: logged once, and nothing changes.
	d.Fail(0)
	logs.wait(t, "app.test was resolved again")
	tr.finish(t)
	// Once removed, 127.0.0.3 gets only the requests that were on their
	// way to it then: at most one per user of the traffic.
	if n := bs["127.0.0.3"].hitCount() - hits3; n > 4 {
		t.Errorf("%d requests reached the removed server", n)
	}

	// The API shows the resolved servers as NGINX Plus does: the
	// address in "server", the name as written in "name".
	res, body := get(t, newClient(t), lb.url+"/api/9/http/upstreams/backend")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("API: %d %s", res.StatusCode, body)
	}
	var view struct {
		Peers []struct{ Server, Name string }
	}
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range view.Peers {
		got[p.Server] = p.Name
	}
	want := map[string]string{addr("127.0.0.2"): "app.test:" + port, addr("127.0.0.4"): "app.test:" + port}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("API peers %v, want %v", got, want)
	}
	// The access log names the decision too.
	found := false
	for _, e := range parseLog(t, lb.accessLog(t)) {
		found = found || e.Sticky == "reassigned/server_removed"
	}
	if !found {
		t.Errorf("no reassigned/server_removed in the access log")
	}
}

// dnsSRVConf is an upstream with only a service= resolve line.
const dnsSRVConf = `
resolver {{dns}} ipv6=off;
resolver_timeout 200ms;
upstream backend {
    zone backend 64k;
    server svc.test service=http resolve;
    sticky cookie SERVERID;
}
server {
    listen 127.0.0.1:0;
    access_log off;
    sticky_debug_header on;
    location / { proxy_pass http://backend; }
}`

// TestDNSDiscoverySRV: SRV records give each server its port and weight,
// and a name that has not resolved yet leaves the upstream without
// servers: 502, as nginx answers "no live upstreams".
func TestDNSDiscoverySRV(t *testing.T) {
	fastRefresh(t)
	heavy, light := newBackend(t, "heavy"), newBackend(t, "light")
	port := func(b *backend) uint16 {
		_, p, _ := net.SplitHostPort(b.addr())
		var n uint16
		_, _ = fmt.Sscan(p, &n)
		return n
	}
	d := startDNSServer(t)
	d.Silence(true)
	logs := newLogLines()
	lb := startLimpetLogging(t, strings.ReplaceAll(dnsSRVConf, "{{dns}}", d.Addr), logs, &logs.buf)
	logs.wait(t, "service http of svc.test could not be resolved (110: Operation timed out)")
	res, _ := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("before any answer: status %d, want 502", res.StatusCode)
	}

	d.SetA("h.svc.test", 0, "127.0.0.1")
	d.SetSRV("_http._tcp.svc.test", 0,
		dnstest.SRV{Priority: 1, Weight: 3, Port: port(heavy), Target: "h.svc.test"},
		dnstest.SRV{Priority: 1, Weight: 1, Port: port(light), Target: "h.svc.test"})
	d.Silence(false)
	logs.wait(t, "svc.test was resolved again")
	// Smooth weighted round-robin over weights 3 and 1: 3 of every 4
	// new users go to heavy.
	counts := map[string]int{}
	for range 8 {
		_, by := dnsGet(t, newClient(t), lb.url+"/")
		counts[by]++
	}
	if counts["heavy"] != 6 || counts["light"] != 2 {
		t.Errorf("new users by server: %v, want heavy 6, light 2", counts)
	}
	u := lb.rt.Upstream("backend")
	for _, s := range u.Pool().All() {
		if s.Name != "h.svc.test" || s.ID != upstream.IDFor(s.Addr, "") {
			t.Errorf("server %s: name %q, id %s", s.Addr, s.Name, s.ID)
		}
	}
}

// TestDNSReload: a reload keeps the resolved servers without a gap, even
// while the DNS server says nothing: a pinned user stays on its server
// across it, and the new configuration's watcher goes on following DNS
// (the old one does not).
func TestDNSReload(t *testing.T) {
	fastRefresh(t)
	port, bs := backendsOnPort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	d := startDNSServer(t)
	d.SetA("app.test", 0, "127.0.0.2", "127.0.0.3")
	logs := newLogLines()
	lb := startLimpetLogging(t, dnsConf, logs, &logs.buf, "{{dns}}", d.Addr, "{{port}}", port)
	logs.wait(t, "upstream server added", "server="+net.JoinHostPort("127.0.0.2", port))
	logs.wait(t, "upstream server added", "server="+net.JoinHostPort("127.0.0.3", port))
	user := newClient(t)
	_, pinned := dnsGet(t, user, lb.url+"/")
	before := map[string]*upstream.Server{}
	for _, s := range lb.rt.Upstream("backend").Pool().All() {
		before[s.Addr] = s
	}

	d.Silence(true)
	reloaded := strings.Replace(dnsConf, "resolve;", "resolve weight=2;", 1)
	if err := lb.reload(t, reloaded, "{{dns}}", d.Addr, "{{port}}", port); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// At once, before any answer: the same servers, with the new weight.
	for _, s := range lb.rt.Upstream("backend").Pool().All() {
		if before[s.Addr] != s || s.Weight != 2 {
			t.Errorf("server %s after the reload: the same %v, weight %d", s.Addr, before[s.Addr] == s, s.Weight)
		}
	}
	if n := len(lb.rt.Upstream("backend").Pool().All()); n != 2 {
		t.Errorf("%d servers after the reload", n)
	}
	if dec, by := dnsGet(t, user, lb.url+"/"); dec != "hit" || by != pinned {
		t.Errorf("pinned user after the reload: %q on %s, was on %s", dec, by, pinned)
	}
	hits := bs["127.0.0.4"].hitCount()

	d.SetA("app.test", 0, "127.0.0.2", "127.0.0.4")
	d.Silence(false)
	logs.wait(t, "upstream server added", "server="+net.JoinHostPort("127.0.0.4", port))
	var weights []string
	for _, s := range lb.rt.Upstream("backend").Pool().All() {
		weights = append(weights, fmt.Sprintf("%s=%d", s.Addr, s.Weight))
	}
	want := []string{net.JoinHostPort("127.0.0.2", port) + "=2", net.JoinHostPort("127.0.0.4", port) + "=2"}
	if strings.Join(weights, " ") != strings.Join(want, " ") {
		t.Errorf("servers %q, want %q", weights, want)
	}
	for range 4 {
		dnsGet(t, newClient(t), lb.url+"/")
	}
	if bs["127.0.0.4"].hitCount() == hits {
		t.Errorf("the address added after the reload takes no requests")
	}
	// One watcher only: the address was added once.
	if n := strings.Count(logs.buf.String(), "server="+net.JoinHostPort("127.0.0.4", port)); n != 1 {
		t.Errorf("127.0.0.4 added %d times:\n%s", n, logs.buf.String())
	}
}
