package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Slowloris against a real limpet process, in front of a real loopback
// backend: a few hundred connections that send part of a request header
// and then a byte now and then must not slow down ordinary keep-alive
// clients much, nor make them fail, whether worker_connections is above
// the slowloris count (the default) or below it (then new connections
// wait, as with nginx, and established ones keep being served).
//
// "Not much" is p99 during ≤ slowdownFactor × max(p99 before, latencyFloor):
// on loopback a request takes a fraction of a millisecond, so a ratio of
// two such figures measures the scheduler's noise on a shared machine more
// than limpet; the floor keeps the bound meaningful (a slowloris that
// made limpet stall, or spin, costs tens of milliseconds) without making
// it flaky.
const (
	slowdownFactor = 5
	latencyFloor   = 4 * time.Millisecond
	// slowlorisConns is how many slowloris connections are opened.
	slowlorisConns = 500
	// ordinaryClients each do at least ordinaryRequests, for at least
	// phaseTime, per measured phase, on one keep-alive connection each.
	ordinaryClients  = 4
	ordinaryRequests = 200
	phaseTime        = time.Second
	// trickleEvery is how often each slowloris connection sends a byte.
	trickleEvery = 200 * time.Millisecond
)

func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLimpet(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer app.Close()
	tests := []struct {
		name   string
		events string
		cap    int // 0: the default, above slowlorisConns
	}{
		{"default worker_connections", "", 0},
		{"worker_connections below the slowloris count", "events { worker_connections 64; }", 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freePort(t)
			// keepalive_requests is raised above what the ordinary
			// clients send: they measure established connections, and
			// a connection closed after nginx's 1000 would reconnect
			// into the backlog the slowloris connections fill.
			conf := writeConf(t, fmt.Sprintf(`
%s
upstream backend { server %s; }
server { listen %s; access_log off; keepalive_requests 100000000; location / { proxy_pass http://backend; } }
`, tt.events, app.Listener.Addr(), addr))
			lp := startProcess(t, bin, conf, addr)
			testSlowloris(t, lp, addr, tt.cap)
		})
	}
}

func testSlowloris(t *testing.T, lp *process, addr string, limit int) {
	load := startOrdinary(t, addr)
	defer load.stop()
	load.waitPhase(t, 0)
	rssBefore, fdsBefore := lp.rss(), lp.fds()

	// Open the slowloris connections: a request line and part of the
	// header, then one more byte of a header line every trickleEvery.
	slow := make([]net.Conn, 0, slowlorisConns)
	defer func() {
		for _, c := range slow {
			_ = c.Close()
		}
	}()
	for range slowlorisConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slowloris connection %d: %v", len(slow), err)
		}
		slow = append(slow, c)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
	}
	trickling := make(chan struct{})
	var trickled sync.WaitGroup
	var stopOnce sync.Once
	stopTrickle := func() { stopOnce.Do(func() { close(trickling); trickled.Wait() }) }
	trickled.Go(func() {
		tick := time.NewTicker(trickleEvery)
		defer tick.Stop()
		for {
			select {
			case <-trickling:
				return
			case <-tick.C:
				for _, c := range slow {
					_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					_, _ = c.Write([]byte("a"))
				}
			}
		}
	})
	defer stopTrickle()

	// Wait until limpet holds every slowloris connection it may: all of
	// them, or as many as worker_connections leaves once the ordinary
	// clients have theirs (the others wait in the listen backlog).
	want := slowlorisConns
	if limit > 0 {
		want = limit - ordinaryClients
		waitFor(t, "the shortage logged", func() bool {
			return strings.Contains(lp.stderr.String(), fmt.Sprintf("%d worker_connections are not enough", limit))
		})
	}
	if fdsBefore >= 0 {
		waitFor(t, fmt.Sprintf("limpet holding %d more descriptors", want), func() bool { return lp.fds()-fdsBefore >= want })
	}
	accepted, rssDuring := lp.fds()-fdsBefore, lp.rss()

	load.startPhase(1)
	load.waitPhase(t, 1)

	// A new client waits while limpet is out of slots (nginx's
	// behaviour), and is served once the slowloris connections go.
	var late net.Conn
	if limit > 0 {
		var err error
		late, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		_, _ = io.WriteString(late, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = late.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := late.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a new client was served beyond worker_connections: %v", err)
		}
	}

	// Every slowloris connection is still open (the header timeout is
	// 60s): limpet neither answered nor closed them.
	held := 0
	for _, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			held++
		}
	}
	load.stop()
	before, during := load.latencies(0), load.latencies(1)
	t.Logf("slowloris connections: %d opened, %d held open, %d accepted by limpet (descriptors); worker_connections %s",
		len(slow), held, accepted, orDefault(limit))
	t.Logf("ordinary clients: %d on keep-alive connections, %d requests before, %d during; errors %d before, %d during",
		ordinaryClients, len(before), len(during), load.errors(0), load.errors(1))
	t.Logf("latency before: p50 %v p99 %v; during: p50 %v p99 %v",
		pct(before, 50), pct(before, 99), pct(during, 50), pct(during, 99))
	if rssBefore > 0 && rssDuring > 0 {
		t.Logf("limpet RSS: %d KiB before, %d KiB with the slowloris connections (%+d B each)",
			rssBefore>>10, rssDuring>>10, (rssDuring-rssBefore)/int64(max(accepted, 1)))
	}
	if e := load.errors(0) + load.errors(1); e > 0 {
		t.Errorf("ordinary clients had %d errors; first: %v\nlimpet's log:\n%s", e, load.firstErr(), lp.stderr.String())
	}
	if held != len(slow) {
		t.Errorf("%d of %d slowloris connections still open, want all (client_header_timeout is 60s)", held, len(slow))
	}
	if p, bound := pct(during, 99), slowdownFactor*max(pct(before, 99), latencyFloor); p > bound {
		t.Errorf("p99 with slowloris %v > %d × max(p99 without %v, %v)", p, slowdownFactor, pct(before, 99), latencyFloor)
	}

	if late != nil {
		stopTrickle()
		for _, c := range slow {
			_ = c.Close()
		}
		slow = nil
		_ = late.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(late), nil)
		if err != nil {
			t.Fatalf("the client that waited: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("the client that waited: %d", res.StatusCode)
		}
	}
}

func orDefault(n int) string {
	if n == 0 {
		return "default"
	}
	return strconv.Itoa(n)
}

// pct returns the p-th percentile of sorted durations.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)]
}

// waitFor polls cond, for conditions of another process (its log, its
// descriptors) that send no event.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within 10s: %s", what)
		}
	}
}

// ordinary is the ordinary clients: each loops over GETs on its own
// keep-alive connection from start to stop, so that its connection is
// never idle for long (an idle one may be reused when limpet is short
// of slots, as nginx does), and records its latencies per phase.
type ordinary struct {
	phase atomic.Int32
	quit  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	lat    [2][]time.Duration
	errs   [2]int
	err    error  // the first error
	done   [2]int // clients that did ordinaryRequests in the phase
	gaveUp bool
	cond   *sync.Cond // on mu: done or gaveUp changed
}

func startOrdinary(t *testing.T, addr string) *ordinary {
	o := &ordinary{quit: make(chan struct{})}
	o.cond = sync.NewCond(&o.mu)
	for range ordinaryClients {
		// A connection of its own rather than http.Transport's pool,
		// which may race a new dial against the connection it is
		// about to reuse: at the limit, that new connection would
		// wait in the backlog, and it is established connections
		// that are measured.
		c := &keepAlive{addr: addr}
		o.wg.Go(func() {
			defer c.close()
			var n [2]int
			var began [2]time.Time
			for {
				select {
				case <-o.quit:
					return
				default:
				}
				ph := o.phase.Load()
				start := time.Now()
				err := c.get()
				took := time.Since(start)
				o.mu.Lock()
				if err != nil {
					o.errs[ph]++
					if o.err == nil {
						o.err = err
					}
				}
				// Past the phase's count and time, the client goes on
				// as load only, keeping its connection busy.
				if began[ph].IsZero() {
					began[ph] = start
				}
				if n[ph] >= 0 {
					o.lat[ph] = append(o.lat[ph], took)
					if n[ph]++; n[ph] >= ordinaryRequests && time.Since(began[ph]) >= phaseTime {
						n[ph] = -1
						o.done[ph]++
						o.cond.Broadcast()
					}
				}
				o.mu.Unlock()
			}
		})
	}
	return o
}

// keepAlive is one client's keep-alive connection, opened again after
// an error.
type keepAlive struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// get does one GET and checks the answer.
func (k *keepAlive) get() error {
	if k.c == nil {
		c, err := net.Dial("tcp", k.addr)
		if err != nil {
			return err
		}
		k.c, k.br = c, bufio.NewReader(c)
	}
	err := k.exchange()
	if err != nil {
		k.close()
	}
	return err
}

func (k *keepAlive) exchange() error {
	_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	res, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 || string(b) != "ok" || res.Close {
		return fmt.Errorf("%d %q, close %v", res.StatusCode, b, res.Close)
	}
	return nil
}

func (k *keepAlive) close() {
	if k.c != nil {
		_ = k.c.Close()
		k.c = nil
	}
}

// startPhase moves the clients to phase ph, 0 (before, the first) or 1
// (during).
func (o *ordinary) startPhase(ph int32) { o.phase.Store(ph) }

// waitPhase waits until every client did its requests of phase ph.
func (o *ordinary) waitPhase(t *testing.T, ph int) {
	t.Helper()
	timer := time.AfterFunc(20*time.Second, func() {
		o.mu.Lock()
		o.gaveUp = true
		o.cond.Broadcast()
		o.mu.Unlock()
	})
	defer timer.Stop()
	o.mu.Lock()
	for !o.gaveUp && o.done[ph] < ordinaryClients {
		o.cond.Wait()
	}
	ok := o.done[ph] == ordinaryClients
	o.mu.Unlock()
	if !ok {
		t.Fatalf("the ordinary clients did not finish phase %d within 20s; first error: %v", ph, o.firstErr())
	}
}

func (o *ordinary) stop() {
	select {
	case <-o.quit:
	default:
		close(o.quit)
	}
	o.wg.Wait()
}

// latencies returns phase ph's latencies, sorted.
func (o *ordinary) latencies(ph int) []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(slices.Values(o.lat[ph]))
}

func (o *ordinary) errors(ph int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.errs[ph]
}

func (o *ordinary) firstErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// process is a limpet started by a test.
type process struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// startProcess runs bin -c conf until the test ends, when it is stopped
// with SIGTERM (SIGKILL if it does not exit within 15s).
func startProcess(t *testing.T, bin, conf, addr string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "-c", conf), stderr: &syncBuffer{}}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("limpet: %v\n%s", err, p.stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
			t.Errorf("limpet did not exit within 15s of SIGTERM")
		}
	})
	waitListening(t, addr)
	return p
}

// rss returns the process's resident memory in bytes, or 0 where
// /proc is not there.
func (p *process) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// fds returns how many descriptors the process has open, or -1 where
// /proc is not there.
func (p *process) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}
