package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// The chaos test's settings. The timeouts are short so that a frozen
// server is noticed within the test, and long enough that a healthy
// server on a loaded two-core machine is never taken for a frozen one;
// fail_timeout is longer than the freeze lasts, so the frozen server is
// not tried again while it is still frozen.
const (
	chaosClients      = 15 // three per backend after the warm-up's round-robin
	chaosPostPercent  = 30 // share of POSTs among the requests
	chaosResetPercent = 3  // share of requests for /reset
	chaosReadTimeout  = 2 * time.Second
	chaosFailTimeout  = 6 * time.Second
	chaosKeepalive    = 8
)

// TestChaos runs a real limpet process in front of five real backend
// processes (internal/testbackend) under steady load from cookie-keeping
// clients, and meanwhile SIGKILLs one backend and starts it again on its
// port, freezes another with SIGSTOP until its users have been moved,
// and has a third break off some responses with a TCP reset. Two
// backends are left alone. Each client has its own cookie jar and
// connection, and sends GETs and POSTs, each with a unique X-Request-Id
// that the backends record before they answer. It then checks:
//
//   - no POST reached the backends twice (every id any backend ever
//     received, the killed one's included, is in their logs);
//   - every client-visible failure has a cause among the faults, and
//     their number is within the budget the faults allow: the /reset
//     requests the resetting server took, and one POST per user of the
//     killed and of the frozen server. A user has one request at a time,
//     so limpet had at most one connection per user to the killed
//     server, and a POST on it when it died, in flight or sent on a
//     pooled connection whose close limpet had not yet seen, may not be
//     sent again; a POST to the frozen server waits
//     out proxy_read_timeout and may not be sent again either, and after
//     the first timeout the server is skipped. Nothing else may fail;
//   - every user of the killed and of the frozen server was moved: the
//     next answer it had from a server came from a live one, with a
//     Set-Cookie naming it (every answer carries the cookie, as nginx
//     sends it; a move is one naming another server); no other user ever moved, and every answer
//     came from the server the user's cookie named;
//   - afterwards limpet's descriptors and goroutines come back down:
//     no client connection left, the other descriptors back to their
//     count before the load, the pooled upstream connections within
//     keepalive per server; the killed and the frozen server take users
//     again once fail_timeout has passed; limpet exits 0 on SIGTERM.
//
// It takes under 30 seconds and stays in CI. The soak runs the same load
// and faults in a loop for a given time and checks in addition that
// limpet's resident memory is flat (the largest VmRSS of the last minute
// within 1.5 times that of the first):
//
//	LIMPET_SOAK=10m go test -run TestChaos -v -timeout 15m ./cmd/limpet
func TestChaos(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("builds and runs limpet and five backends for some 15 seconds")
	}
	soak := time.Duration(0)
	if v := os.Getenv("LIMPET_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("LIMPET_SOAK=%q: want a duration such as 10m", v)
		}
		soak = d
		if dl, ok := t.Deadline(); ok && time.Until(dl) < d+2*time.Minute {
			t.Fatalf("LIMPET_SOAK=%v needs a longer -timeout (the test's deadline is in %v)", d, time.Until(dl).Round(time.Second))
		}
	}
	h := newChaosHarness(t)
	rss := h.sampleRSS()
	start := time.Now()
	var total chaosFigures
	for n := 1; ; n++ {
		fig := h.cycle(t, n)
		t.Logf("cycle %d: %s", n, fig)
		total.add(fig)
		if t.Failed() || time.Since(start) >= soak {
			break
		}
	}
	if soak > 0 {
		t.Logf("soak of %v: %s", time.Since(start).Round(time.Second), total)
		rss.check(t)
	}
	h.stopLimpet(t)
}

// chaosBackend is one backend process and its record of requests.
type chaosBackend struct {
	name, addr string
	id         string // the cookie value naming it
	port       int
	logPath    string // the requests it received, kept across restarts
	reset      bool   // it breaks off /reset
	bin        string
	errPath    string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// start runs the backend and waits until it accepts connections.
func (b *chaosBackend) start(t *testing.T) {
	t.Helper()
	args := []string{"-listen", b.addr, "-name", b.name, "-log", b.logPath}
	if b.reset {
		args = append(args, "-reset")
	}
	b.cmd = exec.Command(b.bin, args...)
	errf, err := os.OpenFile(b.errPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd.Stdout, b.cmd.Stderr = errf, errf
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", b.name, err)
	}
	errf.Close()
	exited := make(chan struct{})
	b.exited = exited
	cmd := b.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	waitListening(t, b.addr)
}

// kill ends the backend with SIGKILL and returns once it is reaped, its
// sockets closed by the kernel.
func (b *chaosBackend) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

// signal sends sig and waits until /proc shows the process stopped
// (stopped true) or running again.
func (b *chaosBackend) signal(t *testing.T, sig syscall.Signal, stopped bool) {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to %s: %v", sig, b.name, err)
	}
	waitCond(t, 10*time.Second, fmt.Sprintf("%s stopped=%v after %v", b.name, stopped, sig), func() bool {
		return (procState(b.cmd.Process.Pid) == 'T') == stopped
	})
}

// procState returns the state letter of /proc/PID/stat ('T' for
// stopped), or 0.
func procState(pid int) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// waitCond polls cond until it holds, failing the test after within.
// It waits for states that announce themselves nowhere else: a process
// stopped, an API field, a descriptor count.
func waitCond(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chaosHarness is limpet and its backends.
type chaosHarness struct {
	dir      string
	lbURL    string
	lbPort   int
	admin    string // the admin server's host:port
	limpet   *exec.Cmd
	lbExited chan struct{}
	lbErr    error // cmd.Wait's result, once lbExited is closed
	errLog   string

	backends []*chaosBackend // healthy, healthy, killed, stopped, reset
	byName   map[string]*chaosBackend
	byID     map[string]*chaosBackend
	healthy  []*chaosBackend
	killed   *chaosBackend
	stopped  *chaosBackend
	resetter *chaosBackend

	adminClient *http.Client

	base *chaosResources // before the first load
}

// The backends' roles, in the order of newChaosHarness.
const (
	roleHealthy1 = iota
	roleHealthy2
	roleKilled
	roleStopped
	roleReset
	roleCount
)

// newHarnessBase is what a process harness starts from: a directory, the
// backend binary built into it, empty indexes of backends, and a client
// for limpet's API without keep-alive.
func newHarnessBase(t *testing.T) (h *chaosHarness, backendBin string) {
	t.Helper()
	dir := t.TempDir()
	h = &chaosHarness{dir: dir, byName: map[string]*chaosBackend{}, byID: map[string]*chaosBackend{},
		adminClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	backendBin = filepath.Join(dir, "testbackend")
	if out, err := exec.Command("go", "build", "-o", backendBin, "github.com/limpet-lb/limpet/internal/testbackend").CombinedOutput(); err != nil {
		t.Fatalf("go build testbackend: %v\n%s", err, out)
	}
	return h, backendBin
}

func newChaosHarness(t *testing.T) *chaosHarness {
	t.Helper()
	h, backendBin := newHarnessBase(t)
	dir := h.dir
	limpetBin := buildLimpet(t)
	// Ports below the ephemeral range: the killed backend's port must
	// still be free when it starts again, and no outgoing connection
	// can have taken it meanwhile as its local port.
	ports := loopbackPorts(t, roleCount+2)
	for i := range roleCount {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i])
		b := &chaosBackend{name: fmt.Sprintf("app-%d", i+1), addr: addr, id: upstream.IDFor(addr, ""), port: ports[i], bin: backendBin}
		b.logPath = filepath.Join(dir, b.name+".requests")
		b.errPath = filepath.Join(dir, b.name+".log")
		b.reset = i == roleReset
		h.backends = append(h.backends, b)
		h.byName[b.name], h.byID[b.id] = b, b
	}
	h.healthy = h.backends[roleHealthy1 : roleHealthy2+1]
	h.killed, h.stopped, h.resetter = h.backends[roleKilled], h.backends[roleStopped], h.backends[roleReset]
	for _, b := range h.backends {
		b.start(t)
		t.Cleanup(func() {
			if b.cmd.ProcessState == nil {
				_ = b.cmd.Process.Signal(syscall.SIGKILL) // works on a stopped process too
				<-b.exited
			}
		})
	}

	h.lbPort = ports[roleCount]
	lb := fmt.Sprintf("127.0.0.1:%d", h.lbPort)
	h.admin = fmt.Sprintf("127.0.0.1:%d", ports[roleCount+1])
	h.lbURL = "http://" + lb
	h.errLog = filepath.Join(dir, "error.log")
	var servers strings.Builder
	for _, b := range h.backends {
		fmt.Fprintf(&servers, "    server %s max_fails=1 fail_timeout=%ds;\n", b.addr, int(chaosFailTimeout/time.Second))
	}
	conf := writeConf(t, fmt.Sprintf(`
error_log %s;
upstream backend {
%s    sticky cookie SERVERID path=/;
    keepalive %d;
}
server {
    listen %s;
    access_log %s;
    location / {
        proxy_pass http://backend;
        proxy_next_upstream error timeout;
        proxy_connect_timeout %dms;
        proxy_read_timeout %dms;
        sticky_debug_header on;
    }
}
server {
    listen %s;
    access_log off;
    location /api/ { api; }
    location = /metrics { metrics; }
}
`, h.errLog, servers.String(), chaosKeepalive, lb, filepath.Join(dir, "access.log"),
		chaosReadTimeout.Milliseconds(), chaosReadTimeout.Milliseconds(), h.admin))
	h.limpet = exec.Command(limpetBin, "-c", conf)
	stderr, err := os.Create(filepath.Join(dir, "limpet.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	h.limpet.Stdout, h.limpet.Stderr = stderr, stderr
	if err := h.limpet.Start(); err != nil {
		t.Fatal(err)
	}
	stderr.Close()
	h.lbExited = make(chan struct{})
	go func() { h.lbErr = h.limpet.Wait(); close(h.lbExited) }()
	t.Cleanup(func() {
		select {
		case <-h.lbExited:
		default:
			_ = h.limpet.Process.Kill()
			<-h.lbExited
		}
		if t.Failed() {
			h.dumpLogs(t)
		}
	})
	waitListening(t, lb)
	waitListening(t, h.admin)
	return h
}

// loopbackPorts returns n free ports on 127.0.0.1 below the ephemeral
// range (where the system picks the local ports of outgoing connections).
func loopbackPorts(t *testing.T, n int) []int {
	t.Helper()
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	var ports []int
	if low < 12000 {
		// No room below the ephemeral range: take the system's choice.
		for range n {
			_, p, _ := net.SplitHostPort(freePort(t))
			v, _ := strconv.Atoi(p)
			ports = append(ports, v)
		}
		return ports
	}
	for p := 10000 + rand.IntN(low-11000); len(ports) < n && p < low; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	if len(ports) < n {
		t.Fatalf("found only %d free ports below %d", len(ports), low)
	}
	return ports
}

// dumpLogs shows limpet's error log for a failed test, less the lines
// of the deliberate resets.
func (h *chaosHarness) dumpLogs(t *testing.T) {
	for _, p := range []string{h.errLog, filepath.Join(h.dir, "limpet.stderr")} {
		data, _ := os.ReadFile(p)
		var keep []string
		resets := 0
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "upstream response body broken off") {
				resets++
				continue
			}
			keep = append(keep, line)
		}
		if len(keep) > 60 {
			keep = keep[len(keep)-60:]
		}
		t.Logf("%s (%d lines of broken-off responses left out):\n%s", filepath.Base(p), resets, strings.Join(keep, "\n"))
	}
}

// nameOf returns the name of the backend a cookie value names.
func (h *chaosHarness) nameOf(id string) string {
	if b := h.byID[id]; b != nil {
		return b.name
	}
	return fmt.Sprintf("no server (%q)", id)
}

// stopLimpet sends SIGTERM and expects a clean exit.
func (h *chaosHarness) stopLimpet(t *testing.T) { h.signalExit(t, syscall.SIGTERM) }

// signalExit sends sig to limpet and expects it to exit 0.
func (h *chaosHarness) signalExit(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.limpet.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.lbExited:
		if h.lbErr != nil {
			t.Errorf("limpet after %v: %v", sig, h.lbErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("limpet did not exit after %v", sig)
	}
}

// peerStates returns the API's state of every server, by address.
func (h *chaosHarness) peerStates(t *testing.T) map[string]string {
	t.Helper()
	res, err := h.adminClient.Get("http://" + h.admin + "/api/9/http/upstreams/backend")
	if err != nil {
		t.Fatalf("API: %v", err)
	}
	defer res.Body.Close()
	var up struct {
		Peers []struct {
			Server string `json:"server"`
			State  string `json:"state"`
		} `json:"peers"`
	}
	if err := json.NewDecoder(res.Body).Decode(&up); err != nil {
		t.Fatalf("API: %v", err)
	}
	states := map[string]string{}
	for _, p := range up.Peers {
		states[p.Server] = p.State
	}
	return states
}

// waitState waits until the API shows b in state.
func (h *chaosHarness) waitState(t *testing.T, within time.Duration, b *chaosBackend, state string) {
	t.Helper()
	var got string
	waitCond(t, within, fmt.Sprintf("%s %s in the API", b.name, state), func() bool {
		got = h.peerStates(t)[b.addr]
		return got == state
	})
}

// goroutines reads limpet's go_goroutines from its metrics.
func (h *chaosHarness) goroutines(t *testing.T) int {
	t.Helper()
	res, err := h.adminClient.Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("go_goroutines %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatal("metrics without go_goroutines")
	return 0
}

// chaosResources is a census of limpet's descriptors and goroutines.
type chaosResources struct {
	fds        int // all open descriptors
	clients    int // connections from clients (the proxy's and admin's ports)
	upstream   int // connections to the backends
	closeWait  int // of those, closed by the backend and not yet by limpet
	other      int // listeners, epoll, logs, pipes...
	goroutines int
}

func (r chaosResources) String() string {
	return fmt.Sprintf("fds %d (clients %d, upstream %d of which close-wait %d, other %d), goroutines %d",
		r.fds, r.clients, r.upstream, r.closeWait, r.other, r.goroutines)
}

// resources counts limpet's descriptors by what they are, from
// /proc/PID/fd and the TCP tables.
func (h *chaosHarness) resources(t *testing.T) chaosResources {
	t.Helper()
	pid := h.limpet.Process.Pid
	type sock struct {
		local, remote int
		state         string
	}
	socks := map[string]sock{}
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			socks[f[9]] = sock{local: hexPort(f[1]), remote: hexPort(f[2]), state: f[3]}
		}
	}
	backendPorts := map[int]bool{}
	for _, b := range h.backends {
		backendPorts[b.port] = true
	}
	_, ap, _ := net.SplitHostPort(h.admin)
	adminPort, _ := strconv.Atoi(ap)
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("limpet's descriptors: %v", err)
	}
	var r chaosResources
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		r.fds++
		inode, ok := strings.CutPrefix(link, "socket:[")
		s, known := socks[strings.TrimSuffix(inode, "]")]
		const listen, closeWait = "0A", "08"
		switch {
		case !ok || !known || s.state == listen:
			r.other++
		case s.local == h.lbPort || s.local == adminPort:
			r.clients++
		case backendPorts[s.remote]:
			r.upstream++
			if s.state == closeWait {
				r.closeWait++
			}
		default:
			r.other++
		}
	}
	r.goroutines = h.goroutines(t)
	return r
}

// hexPort returns the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	v, _ := strconv.ParseInt(p, 16, 32)
	return int(v)
}

// settle waits until no client connection is left and the descriptors and
// goroutines are back to the baseline, and returns the census.
func (h *chaosHarness) settle(t *testing.T, base *chaosResources) chaosResources {
	t.Helper()
	var r chaosResources
	ok := func() bool {
		r = h.resources(t)
		if r.clients != 0 {
			return false
		}
		return base == nil || (r.other <= base.other && r.goroutines <= base.goroutines)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			if base != nil {
				t.Errorf("limpet's resources did not come back down within 20s: %v, before the load %v", r, *base)
			} else {
				t.Errorf("client connections still open after 20s: %v", r)
			}
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// rssSampler records limpet's VmRSS once a second.
type rssSampler struct {
	mu      sync.Mutex // guards samples
	samples []rssSample
	stop    chan struct{}
	done    chan struct{}
}

type rssSample struct {
	at  time.Time
	kib int
}

func (h *chaosHarness) sampleRSS() *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	pid := h.limpet.Process.Pid
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if kib := sampleRSS(pid); kib > 0 {
				s.mu.Lock()
				s.samples = append(s.samples, rssSample{time.Now(), kib})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// sampleRSS returns the VmRSS of /proc/PID/status in KiB, or 0.
func sampleRSS(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// check stops the sampling and compares the largest RSS of the last
// minute with that of the first (of the first and last quarter for a soak
// shorter than four minutes).
func (s *rssSampler) check(t *testing.T) {
	t.Helper()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) < 8 {
		t.Errorf("only %d RSS samples", len(s.samples))
		return
	}
	first, last := s.samples[0].at, s.samples[len(s.samples)-1].at
	window := min(time.Minute, last.Sub(first)/4)
	var firstMax, lastMax int
	for _, x := range s.samples {
		if x.at.Sub(first) <= window {
			firstMax = max(firstMax, x.kib)
		}
		if last.Sub(x.at) <= window {
			lastMax = max(lastMax, x.kib)
		}
	}
	t.Logf("limpet's VmRSS: largest %d KiB in the first %v, %d KiB in the last; %d samples", firstMax, window, lastMax, len(s.samples))
	if float64(lastMax) > 1.5*float64(firstMax) {
		t.Errorf("limpet's memory grows: VmRSS up to %d KiB in the last %v, %d KiB in the first", lastMax, window, firstMax)
	}
}

// chaosRec is one request as its client saw it.
type chaosRec struct {
	client       *chaosClient
	id           string
	method, path string
	start, end   time.Time
	cookie       string // the SERVERID the request carried ("" none)
	status       int    // 0: no response
	err          string
	backend      string // X-Backend
	setCookie    string // the SERVERID the response set ("" none)
	sticky       string // X-Limpet-Sticky
	ok           bool   // 200 with the request's own body, read whole
}

// overlaps reports whether the request was under way at some time in
// [from, to).
func (r *chaosRec) overlaps(from, to time.Time) bool {
	return r.start.Before(to) && r.end.After(from)
}

func (r *chaosRec) String() string {
	return fmt.Sprintf("%s %s %s cookie=%.8s status=%d err=%q backend=%s set-cookie=%.8s sticky=%s [%s, %s]",
		r.id, r.method, r.path, r.cookie, r.status, r.err, r.backend, r.setCookie, r.sticky,
		r.start.Format("15:04:05.000"), r.end.Format("15:04:05.000"))
}

// chaosClient is one user: its own cookie jar and connection.
type chaosClient struct {
	name string
	base *url.URL
	jar  http.CookieJar
	tr   *http.Transport
	hc   *http.Client
	rng  *rand.Rand
	seq  int

	first  string   // the server ID of its warm-up cookie
	lastOK chaosRec // its latest success; guarded by chaosLoad.mu
}

func newChaosClient(t *testing.T, name, lbURL string, seed uint64) *chaosClient {
	t.Helper()
	u, err := url.Parse(lbURL)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	return &chaosClient{name: name, base: u, jar: jar, tr: tr, rng: rand.New(rand.NewPCG(seed, 0x6c696d706574)),
		hc: &http.Client{Jar: jar, Transport: tr, Timeout: 15 * time.Second}}
}

// cookie returns the SERVERID the jar holds.
func (c *chaosClient) cookie() string {
	for _, ck := range c.jar.Cookies(c.base) {
		if ck.Name == "SERVERID" {
			return ck.Value
		}
	}
	return ""
}

// do sends one request and records what came back.
func (c *chaosClient) do(method, path string) chaosRec {
	c.seq++
	r := chaosRec{client: c, id: fmt.Sprintf("%s-%d", c.name, c.seq), method: method, path: path, cookie: c.cookie()}
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("order=" + r.id)
	}
	req, err := http.NewRequest(method, c.base.String()+path, body)
	if err != nil {
		panic(err)
	}
	req.Header.Set("X-Request-Id", r.id)
	r.start = time.Now()
	res, err := c.hc.Do(req)
	if err != nil {
		r.end, r.err = time.Now(), err.Error()
		return r
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	r.end = time.Now()
	r.status, r.backend, r.sticky = res.StatusCode, res.Header.Get("X-Backend"), res.Header.Get("X-Limpet-Sticky")
	for _, ck := range res.Cookies() {
		if ck.Name == "SERVERID" {
			r.setCookie = ck.Value
		}
	}
	if err != nil {
		r.err = err.Error()
	}
	r.ok = err == nil && r.status == http.StatusOK && string(data) == r.backend+" "+r.id+"\n"
	return r
}

// next picks the next request of the load.
func (c *chaosClient) next() (method, path string) {
	method, path = http.MethodGet, "/"
	if c.rng.IntN(100) < chaosPostPercent {
		method = http.MethodPost
	}
	if c.rng.IntN(100) < chaosResetPercent {
		path = "/reset"
	}
	return method, path
}

// chaosLoad is the clients' requests, recorded as they finish.
type chaosLoad struct {
	mu   sync.Mutex // guards recs and the clients' lastOK
	cond *sync.Cond // broadcast on every record
	recs []chaosRec

	stop atomic.Bool
	wg   sync.WaitGroup
}

func newChaosLoad() *chaosLoad {
	l := &chaosLoad{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *chaosLoad) add(r chaosRec) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	if r.ok {
		r.client.lastOK = r
	}
	l.cond.Broadcast()
	l.mu.Unlock()
}

// run starts the clients' loops.
func (l *chaosLoad) run(clients []*chaosClient) {
	for _, c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stop.Load() {
				l.add(c.do(c.next()))
			}
		}()
	}
}

// halt stops the clients after their current request.
func (l *chaosLoad) halt() {
	l.stop.Store(true)
	l.wg.Wait()
}

// waitFor waits until cond, evaluated with l.mu held after each record,
// holds; the load's progress is the clock of the fault phases.
func (l *chaosLoad) waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	timer := time.AfterFunc(within, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for !cond() {
		if !time.Now().Before(deadline) {
			t.Fatalf("not within %v: %s (%d requests done)", within, what, len(l.recs))
		}
		l.cond.Wait()
	}
}

// waitRequests waits until n more requests have finished.
func (l *chaosLoad) waitRequests(t *testing.T, n int) {
	t.Helper()
	l.mu.Lock()
	target := len(l.recs) + n
	l.mu.Unlock()
	l.waitFor(t, 30*time.Second, fmt.Sprintf("%d more requests", n), func() bool { return len(l.recs) >= target })
}

// waitMoved waits until every client in cs has had a success from a
// server other than dead, finished after since.
func (l *chaosLoad) waitMoved(t *testing.T, cs []*chaosClient, dead *chaosBackend, since time.Time) {
	t.Helper()
	l.waitFor(t, 30*time.Second, "every user of "+dead.name+" served elsewhere", func() bool {
		for _, c := range cs {
			if c.lastOK.backend == dead.name || !c.lastOK.end.After(since) {
				return false
			}
		}
		return true
	})
}

// chaosCycle is one round of load and faults, and when each fault began
// and ended.
type chaosCycle struct {
	n       int
	h       *chaosHarness
	clients []*chaosClient
	pinned  map[*chaosBackend][]*chaosClient // by the warm-up's cookie
	// The users of the killed and of the frozen server when the fault
	// began: the frozen server's include those moved to it off the
	// killed one.
	killUsers, stopUsers []*chaosClient

	killIssued, killReaped, restarted time.Time
	stopIssued, stopConfirmed, cont   time.Time
}

// usersOf returns the users whose cookie names b. The clients' jars are
// safe to read while they run; between faults no user's cookie changes.
func (cy *chaosCycle) usersOf(b *chaosBackend) []*chaosClient {
	var users []*chaosClient
	for _, c := range cy.clients {
		if c.cookie() == b.id {
			users = append(users, c)
		}
	}
	return users
}

// cycle runs one round: fresh users, the load, the faults, the checks.
func (h *chaosHarness) cycle(t *testing.T, n int) chaosFigures {
	t.Helper()
	cy := &chaosCycle{n: n, h: h, pinned: map[*chaosBackend][]*chaosClient{}}
	for _, b := range h.backends {
		if st := h.peerStates(t)[b.addr]; st != "up" {
			t.Fatalf("cycle %d: %s is %q before the load, want up", n, b.name, st)
		}
	}
	l := newChaosLoad()
	defer l.halt()
	// The warm-up: one GET each, in turn, so round-robin gives every
	// backend its share of users.
	for i := range chaosClients {
		c := newChaosClient(t, fmt.Sprintf("c%d.%02d", n, i), h.lbURL, uint64(n*100+i))
		r := c.do(http.MethodGet, "/")
		if !r.ok || r.setCookie == "" || h.byID[r.setCookie] == nil {
			t.Fatalf("warm-up: %v", &r)
		}
		c.first = r.setCookie
		l.add(r)
		cy.clients = append(cy.clients, c)
		cy.pinned[h.byID[c.first]] = append(cy.pinned[h.byID[c.first]], c)
	}
	for _, b := range h.backends {
		if len(cy.pinned[b]) == 0 {
			t.Fatalf("warm-up: no user on %s", b.name)
		}
	}
	defer func() {
		for _, c := range cy.clients {
			c.tr.CloseIdleConnections()
		}
	}()
	if h.base == nil {
		for _, c := range cy.clients {
			c.tr.CloseIdleConnections()
		}
		base := h.settle(t, nil)
		h.base = &base
	}

	l.run(cy.clients)
	l.waitRequests(t, 300)

	// SIGKILL, then the same port again once its users have moved.
	k := h.killed
	cy.killUsers = cy.usersOf(k)
	cy.killIssued = time.Now()
	k.kill()
	cy.killReaped = time.Now()
	l.waitMoved(t, cy.killUsers, k, cy.killReaped)
	h.waitState(t, 5*time.Second, k, "unavail")
	l.waitRequests(t, 200)
	k.start(t)
	cy.restarted = time.Now()
	l.waitRequests(t, 200)

	// SIGSTOP until its users have moved, then SIGCONT.
	s := h.stopped
	cy.stopUsers = cy.usersOf(s)
	cy.stopIssued = time.Now()
	s.signal(t, syscall.SIGSTOP, true)
	cy.stopConfirmed = time.Now()
	l.waitMoved(t, cy.stopUsers, s, cy.stopConfirmed)
	h.waitState(t, 5*time.Second, s, "unavail")
	l.waitRequests(t, 200)
	cy.cont = time.Now()
	s.signal(t, syscall.SIGCONT, false)
	l.waitRequests(t, 300)
	l.halt()
	for _, c := range cy.clients {
		c.tr.CloseIdleConnections()
	}

	// The frozen server takes in what it was sent while frozen, once it
	// runs again: wait for the POSTs that timed out there to be in its
	// record, so the count of duplicates is complete.
	var pending []string
	for i := range l.recs {
		r := &l.recs[i]
		if r.method == http.MethodPost && r.cookie == s.id && r.status == http.StatusGatewayTimeout {
			pending = append(pending, r.id)
		}
	}
	waitCond(t, 10*time.Second, "the POSTs that timed out recorded by "+s.name, func() bool {
		got := readSeen(t, s.logPath)
		for _, id := range pending {
			if len(got[id]) == 0 {
				return false
			}
		}
		return true
	})

	fig := cy.analyse(t, l.recs)
	after := h.settle(t, h.base)
	fig.before, fig.after = *h.base, after
	if limit := len(h.backends) * chaosKeepalive; after.upstream > limit {
		t.Errorf("%d connections to the backends after the load, want at most keepalive × servers = %d", after.upstream, limit)
	}

	// Once fail_timeout has passed, the restarted and the resumed
	// servers take new users again.
	h.waitState(t, chaosFailTimeout+10*time.Second, k, "up")
	h.waitState(t, chaosFailTimeout+10*time.Second, s, "up")
	got := map[string]bool{}
	for i := 0; i < 4*len(h.backends) && !(got[k.name] && got[s.name]); i++ {
		c := newChaosClient(t, fmt.Sprintf("c%d.new%02d", n, i), h.lbURL, 0)
		r := c.do(http.MethodGet, "/")
		c.tr.CloseIdleConnections()
		if b := h.byName[r.backend]; !r.ok || b == nil || r.setCookie != b.id {
			t.Errorf("a new user after the faults: %v", &r)
			continue
		}
		got[r.backend] = true
	}
	if !got[k.name] || !got[s.name] {
		t.Errorf("after fail_timeout, new users reached %v; want %s and %s among them", got, k.name, s.name)
	}
	return fig
}

// seenRec is one request a backend recorded.
type seenRec struct {
	backend, method, path string
}

// readSeen reads a backend's record: id → what it received under that id.
func readSeen(t *testing.T, path string) map[string][]seenRec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("a backend's record: %v", err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".requests")
	seen := map[string][]seenRec{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			seen[f[0]] = append(seen[f[0]], seenRec{name, f[1], f[2]})
		}
	}
	return seen
}

// chaosFigures are what a cycle measured.
type chaosFigures struct {
	sent, posts, failed      int
	failReset, failKill      int // failures by cause
	failStop                 int
	resets, killUsers        int // the budget's parts
	stopUsers                int
	inflightKill             int // POSTs in flight to the killed server as it died
	budget                   int
	duplicates, dupGets      int // POSTs and GETs received more than once
	reassigned, movedHealthy int // users moved off a failed server; users moved otherwise
	healthyUsers             int // users who never had a failed server
	before, after            chaosResources
}

func (f chaosFigures) String() string {
	return fmt.Sprintf("%d requests sent (%d POST); %d failed (reset %d, killed %d, frozen %d) within a budget of %d "+
		"(resets %d + users of the killed server %d + users of the frozen one %d; %d POSTs were in flight to the killed one as it died); "+
		"%d POSTs and %d GETs received twice; %d users reassigned, %d moved without cause, %d users of the other servers never moved; "+
		"before the load %v; after %v",
		f.sent, f.posts, f.failed, f.failReset, f.failKill, f.failStop, f.budget, f.resets, f.killUsers, f.stopUsers, f.inflightKill,
		f.duplicates, f.dupGets, f.reassigned, f.movedHealthy, f.healthyUsers, f.before, f.after)
}

func (f *chaosFigures) add(g chaosFigures) {
	f.sent += g.sent
	f.posts += g.posts
	f.failed += g.failed
	f.failReset += g.failReset
	f.failKill += g.failKill
	f.failStop += g.failStop
	f.resets += g.resets
	f.inflightKill += g.inflightKill
	f.killUsers += g.killUsers
	f.stopUsers += g.stopUsers
	f.budget += g.budget
	f.duplicates += g.duplicates
	f.dupGets += g.dupGets
	f.reassigned += g.reassigned
	f.movedHealthy += g.movedHealthy
	f.healthyUsers += g.healthyUsers
	f.before, f.after = g.before, g.after
}

// analyse checks the cycle's records against what the backends received.
func (cy *chaosCycle) analyse(t *testing.T, recs []chaosRec) chaosFigures {
	t.Helper()
	h := cy.h
	k, s, rs := h.killed, h.stopped, h.resetter
	problems := 0
	problem := func(format string, args ...any) {
		t.Helper()
		if problems++; problems <= 25 {
			t.Errorf(format, args...)
		}
	}

	// Every id any backend received in this cycle.
	prefix := fmt.Sprintf("c%d.", cy.n)
	seen := map[string][]seenRec{}
	for _, b := range h.backends {
		for id, got := range readSeen(t, b.logPath) {
			if strings.HasPrefix(id, prefix) {
				seen[id] = append(seen[id], got...)
			}
		}
	}
	recordedBy := func(id string, b *chaosBackend) bool {
		for _, x := range seen[id] {
			if x.backend == b.name {
				return true
			}
		}
		return false
	}

	var fig chaosFigures
	fig.killUsers, fig.stopUsers = len(cy.killUsers), len(cy.stopUsers)
	moved := map[*chaosClient]bool{}
	for i := range recs {
		r := &recs[i]
		fig.sent++
		if r.method == http.MethodPost {
			fig.posts++
			if r.cookie == k.id && r.overlaps(cy.killIssued, cy.killReaped) {
				fig.inflightKill++
			}
		}
		if !r.ok {
			fig.failed++
			switch {
			case r.path == "/reset" && r.backend == rs.name && recordedBy(r.id, rs):
				// Broken off by the resetting server: a user of
				// another server may have been moved there.
				fig.failReset++
			case r.method == http.MethodPost && r.cookie == k.id && r.status == http.StatusBadGateway &&
				r.overlaps(cy.killIssued, cy.restarted):
				// Sent to the killed server: in flight when it
				// died, or on a pooled connection whose close
				// limpet had not seen yet. Neither may be sent
				// again, as in nginx.
				fig.failKill++
			case r.method == http.MethodPost && r.cookie == s.id && r.status == http.StatusGatewayTimeout &&
				r.overlaps(cy.stopIssued, cy.cont) && recordedBy(r.id, s):
				fig.failStop++
			default:
				problem("a failure no fault explains, to %s: %v", h.nameOf(r.cookie), r)
			}
		}
		if r.backend == "" {
			continue // limpet's own error page, or no response at all
		}
		// A response from a server, whole or broken off: it must be
		// the server the user's cookie names from now on.
		served := h.byName[r.backend]
		if served == nil || !recordedBy(r.id, served) {
			problem("a response from %q that it did not record: %v", r.backend, r)
			continue
		}
		if served == s && r.start.After(cy.stopConfirmed) && r.end.Before(cy.cont) {
			problem("an answer from %s while it was stopped: %v", s.name, r)
		}
		after := r.cookie
		if r.setCookie != "" {
			after = r.setCookie
		}
		if after != served.id {
			problem("a response from %s to a user whose cookie names %s: %v", served.name, h.nameOf(after), r)
		}
		if r.setCookie == "" || r.cookie == "" || r.setCookie == r.cookie {
			// No move: every response from a server carries the
			// cookie, a returning user's the one it sent.
			continue
		}
		// A user may move off the killed server from the kill until
		// fail_timeout after its last failure, which was before it ran
		// again; off the frozen one likewise, its last failure a
		// timeout at most proxy_read_timeout after it resumed. Once
		// the server runs again, nothing is tried on it: the move says
		// the server is still skipped.
		from := h.byID[r.cookie]
		kSkipped, sSkipped := cy.restarted.Add(chaosFailTimeout), cy.cont.Add(chaosReadTimeout+chaosFailTimeout)
		switch {
		case from == k && r.overlaps(cy.killIssued, kSkipped), from == s && r.overlaps(cy.stopIssued, sSkipped):
			fig.reassigned++
			moved[r.client] = true
			running := (from == k && r.start.After(cy.restarted)) || (from == s && r.start.After(cy.cont.Add(chaosReadTimeout)))
			switch {
			case running && r.sticky != "reassigned/server_unavailable":
				problem("a user moved off %s, running again, with X-Limpet-Sticky %q, want reassigned/server_unavailable: %v", from.name, r.sticky, r)
			case !strings.HasPrefix(r.sticky, "reassigned/"):
				problem("a user moved off %s with X-Limpet-Sticky %q, want reassigned/...: %v", from.name, r.sticky, r)
			}
		default:
			fig.movedHealthy++
			problem("a user moved off %s without cause: %v", h.nameOf(r.cookie), r)
		}
	}

	// Every user of the killed and of the frozen server moved: the first
	// answer from another server after the fault (a success, or a
	// /reset broken off by the resetting server) set a cookie naming
	// that server.
	for _, dead := range []struct {
		b     *chaosBackend
		users []*chaosClient
		since time.Time
	}{{k, cy.killUsers, cy.killIssued}, {s, cy.stopUsers, cy.stopIssued}} {
		for _, c := range dead.users {
			var first *chaosRec
			for i := range recs {
				r := &recs[i]
				if r.client == c && r.backend != "" && r.end.After(dead.since) && r.backend != dead.b.name {
					first = r
					break
				}
			}
			switch {
			case first == nil:
				problem("user %s of %s never served elsewhere", c.name, dead.b.name)
			case first.cookie != dead.b.id || h.byName[first.backend] == nil || first.setCookie != h.byName[first.backend].id:
				problem("user %s of %s: its first answer from elsewhere did not move it there: %v", c.name, dead.b.name, first)
			case !moved[c]:
				problem("user %s of %s was not counted as moved", c.name, dead.b.name)
			}
		}
	}
	for _, b := range append([]*chaosBackend{rs}, h.healthy...) {
		for _, c := range cy.pinned[b] {
			if !moved[c] {
				fig.healthyUsers++
			}
		}
	}

	// No POST reached the backends twice.
	for id, got := range seen {
		if len(got) < 2 {
			continue
		}
		if got[0].method == http.MethodPost {
			fig.duplicates++
			problem("POST %s received %d times: %v", id, len(got), got)
		} else {
			fig.dupGets++
		}
		for _, x := range got {
			if x.method != got[0].method {
				problem("id %s received with different methods: %v", id, got)
			}
		}
	}
	for _, got := range seen {
		for _, x := range got {
			if x.backend == rs.name && x.path == "/reset" {
				fig.resets++
			}
		}
	}

	fig.budget = fig.resets + fig.killUsers + fig.stopUsers
	if fig.failed > fig.budget {
		problem("%d failed requests, over the budget of %d", fig.failed, fig.budget)
	}
	if fig.failKill > fig.killUsers {
		problem("%d POSTs lost to the killed server, more than its %d users", fig.failKill, fig.killUsers)
	}
	if fig.failStop > fig.stopUsers {
		problem("%d POSTs lost to the frozen server, more than its %d users", fig.failStop, fig.stopUsers)
	}
	if problems > 25 {
		t.Errorf("... %d problems in all", problems)
	}
	return fig
}
