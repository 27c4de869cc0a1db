package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// The reload test's settings.
const (
	reloadClients    = 20
	reloadWebSockets = 5
	reloadBackends   = 5
	// reloadShutdown is worker_shutdown_timeout: the WebSockets of the
	// first configuration live this long after the first reload.
	reloadShutdown = 8 * time.Second
	// reloadBetween is how many requests complete between two reloads.
	reloadBetween = 60
)

// reloadStep is one configuration of the reload test: the backends in
// the upstream (by index) with their weights, or a broken file.
type reloadStep struct {
	name    string
	servers []int // backend indexes
	weights map[int]int
	broken  string // the text that breaks the file, "" for a good one
}

// reloadSteps are the 20 reloads: servers added and removed, weights
// changed, two configurations that are wrong. The first configuration
// has all five backends, as the last one does, so that limpet's
// resources before and after compare like for like. Backend 1 is always
// there (it is drained through the API at the start, and stays drained).
var reloadSteps = []reloadStep{
	{name: "remove 4", servers: []int{0, 1, 2, 3}},
	{name: "add 4, weight 0", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{0: 2}},
	{name: "remove 3", servers: []int{0, 1, 2, 4}, weights: map[int]int{0: 2}},
	{name: "broken syntax", broken: "upstream backend { server 127.0.0.1:1 }"},
	{name: "add 3", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{0: 2}},
	{name: "weight 2", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{2: 3}},
	{name: "remove 4", servers: []int{0, 1, 2, 3}, weights: map[int]int{2: 3}},
	{name: "add 4", servers: []int{0, 1, 2, 3, 4}},
	{name: "weight 4", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{4: 2}},
	{name: "broken zone key", broken: "limit_req_zone $no_such_variable zone=z:1m rate=1r/s;"},
	{name: "remove 2", servers: []int{0, 1, 3, 4}, weights: map[int]int{4: 2}},
	{name: "add 2", servers: []int{0, 1, 2, 3, 4}},
	{name: "weight 0 again", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{0: 3}},
	{name: "remove 4 again", servers: []int{0, 1, 2, 3}, weights: map[int]int{0: 3}},
	{name: "add 4 again", servers: []int{0, 1, 2, 3, 4}},
	{name: "weight 3", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{3: 2}},
	{name: "remove 3 again", servers: []int{0, 1, 2, 4}},
	{name: "add 3 again", servers: []int{0, 1, 2, 3, 4}},
	{name: "weight 4 again", servers: []int{0, 1, 2, 3, 4}, weights: map[int]int{4: 3}},
	{name: "weights back", servers: []int{0, 1, 2, 3, 4}},
}

// reloadHarness is a limpet process, its backends and its configuration
// file, which the test rewrites before each SIGHUP.
type reloadHarness struct {
	*chaosHarness
	bin, conf, pidFile string
	backendByIndex     []*chaosBackend
}

// TestReloadUnderLoad is the acceptance test of hot reload and binary
// upgrade. A real limpet process serves 20 cookie-keeping clients (GETs
// and POSTs, each with a unique id that the backend processes record)
// and 5 WebSockets while it is reloaded 20 times with SIGHUP (servers
// added, removed, re-weighted; two configurations wrong) and then
// upgraded to a new process with SIGUSR2 and SIGQUIT. It checks:
//
//   - no request failed, and no POST reached a backend twice;
//   - no user moved except off a server a reload had removed, and every
//     such move was "reassigned/server_removed"; after a removal was in
//     effect, no user of that server was served by it;
//   - the server drained through the API stayed draining across every
//     reload (its users served by it, no new user given to it), and every
//     Prometheus counter only went up from one reload to the next;
//   - the WebSockets opened before the reloads still worked after the
//     last one, and were closed by worker_shutdown_timeout, not before;
//   - each wrong configuration was refused with its file:line and the
//     old one went on serving; the API's generation counted the good ones;
//   - after the load, limpet's client connections, descriptors and
//     goroutines came back down to what they were before it;
//   - after the upgrade the new process served and the old one exited 0.
//
// The figures (requests, POSTs, moves) are logged; run it alone with
//
//	go test -run TestReloadUnderLoad -v ./cmd/limpet
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("a load test of about 20 seconds; not in -short")
	}
	h := newReloadHarness(t)

	// Warm-up: one GET per user, in turn, so round-robin spreads them.
	l := newChaosLoad()
	defer l.halt()
	var clients []*chaosClient
	for i := range reloadClients {
		c := newChaosClient(t, fmt.Sprintf("r%02d", i), h.lbURL, uint64(i+1))
		r := c.do(http.MethodGet, "/")
		if !r.ok || h.byID[r.setCookie] == nil {
			t.Fatalf("warm-up: %v", &r)
		}
		c.first = r.setCookie
		l.add(r)
		clients = append(clients, c)
	}
	defer func() {
		for _, c := range clients {
			c.tr.CloseIdleConnections()
		}
	}()
	drained := h.backendByIndex[1]
	h.patchDrain(t, drained)
	for _, c := range clients {
		c.tr.CloseIdleConnections()
	}
	base := h.settle(t, nil)

	var sockets []*reloadWS
	for i := range reloadWebSockets {
		sockets = append(sockets, dialReloadWS(t, h.lbURL, i))
	}
	for _, ws := range sockets {
		if err := ws.echo(); err != nil {
			t.Fatalf("WebSocket %d before the reloads: %v", ws.n, err)
		}
	}

	l.run(clients)
	l.waitRequests(t, 200)

	// The 20 reloads.
	present := map[*chaosBackend]bool{}
	for _, b := range h.backends {
		present[b] = true
	}
	var absences []absence // when each backend was out of the configuration
	openAbsence := map[*chaosBackend]*absence{}
	counters := h.counters(t)
	generation := int64(1)
	refused := 0
	var firstReload time.Time
	for n, step := range reloadSteps {
		h.writeConf(t, step)
		sent := time.Now()
		if n == 0 {
			firstReload = sent
		}
		if err := h.limpet.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if step.broken != "" {
			h.waitReloads(t, int(generation-1), n+1-int(generation-1))
			if g := h.generation(t); g != generation {
				t.Fatalf("reload %d (%s): generation %d after a wrong configuration, want %d", n+1, step.name, g, generation)
			}
			refused++
			h.waitLog(t, refused, "[emerg]", "limpet.conf:")
		} else {
			generation++
			waitCond(t, 10*time.Second, fmt.Sprintf("reload %d (%s) in effect", n+1, step.name), func() bool {
				return h.generation(t) == generation
			})
			applied := time.Now()
			next := map[*chaosBackend]bool{}
			for _, i := range step.servers {
				next[h.backendByIndex[i]] = true
			}
			for _, b := range h.backends {
				switch {
				case present[b] && !next[b]:
					a := &absence{b: b, from: sent, effective: applied}
					openAbsence[b] = a
				case !present[b] && next[b]:
					if a := openAbsence[b]; a != nil {
						a.until = sent
						absences = append(absences, *a)
						delete(openAbsence, b)
					}
				}
			}
			present = next
		}
		if st := h.peerStates(t)[drained.addr]; st != "draining" {
			t.Errorf("reload %d (%s): %s is %q, want draining (set through the API)", n+1, step.name, drained.name, st)
		}
		now := h.counters(t)
		for series, v := range now {
			if old, ok := counters[series]; ok && v < old {
				t.Errorf("reload %d (%s): counter %s went back from %v to %v", n+1, step.name, series, old, v)
			}
		}
		counters = now
		l.waitRequests(t, reloadBetween)
	}
	for _, a := range openAbsence {
		a.until = time.Now().Add(time.Hour)
		absences = append(absences, *a)
	}
	lastReload := time.Now()

	// The first configuration's WebSockets live until its
	// worker_shutdown_timeout is out.
	for _, ws := range sockets {
		err := ws.echo()
		if err != nil && time.Since(firstReload) < reloadShutdown {
			t.Errorf("WebSocket %d after the reloads, %v after the first: %v", ws.n, time.Since(firstReload).Round(time.Millisecond), err)
		}
	}
	for _, ws := range sockets {
		closed := ws.waitClosed(t)
		if closed.Before(firstReload.Add(reloadShutdown)) {
			t.Errorf("WebSocket %d closed %v after the first reload, before worker_shutdown_timeout (%v)", ws.n, closed.Sub(firstReload), reloadShutdown)
		}
	}

	l.halt()
	for _, c := range clients {
		c.tr.CloseIdleConnections()
	}
	after := h.settle(t, &base)
	if limit := len(h.backends) * chaosKeepalive; after.upstream > limit {
		t.Errorf("%d connections to the backends after the reloads, want at most keepalive × servers = %d", after.upstream, limit)
	}
	t.Logf("20 reloads in %v; before the load: %v; after: %v", lastReload.Sub(firstReload).Round(time.Millisecond), base, after)

	// The binary upgrade, under load again.
	l2 := newChaosLoad()
	defer l2.halt()
	l2.run(clients)
	l2.waitRequests(t, 200)
	oldPID := h.limpet.Process.Pid
	upgradeStart := time.Now()
	newPID := h.upgrade(t)
	l2.waitRequests(t, 200)
	h.signalExit(t, syscall.SIGQUIT) // the old limpet
	l2.waitRequests(t, 300)
	l2.halt()
	for _, c := range clients {
		c.tr.CloseIdleConnections()
	}
	upgradeEnd := time.Now()
	// From now on the harness looks at the new process.
	h.limpet = &exec.Cmd{Process: mustFindProcess(t, newPID)}
	if pid := h.servingPID(t); pid != newPID {
		t.Errorf("after the upgrade the API answers from pid %d, want the new process %d", pid, newPID)
	}
	final := h.settle(t, nil)
	if limit := len(h.backends) * chaosKeepalive; final.upstream > limit {
		t.Errorf("new process: %d connections to the backends, want at most %d", final.upstream, limit)
	}
	t.Logf("binary upgrade %d → %d in %v; new process after the load: %v", oldPID, newPID, upgradeEnd.Sub(upgradeStart).Round(time.Millisecond), final)

	recs := append(l.recs, l2.recs...)
	fig := h.analyseReloads(t, recs, absences, drained, upgradeStart)
	t.Logf("%d requests (%d POSTs), %d failed, %d POSTs received twice, %d users moved off removed servers, %d other moves",
		fig.sent, fig.posts, fig.failed, fig.duplicates, fig.reassigned, fig.movedHealthy)

	if err := syscall.Kill(newPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 20*time.Second, "the new limpet to exit after SIGTERM", func() bool { return syscall.Kill(newPID, 0) != nil })
}

// absence is a time a backend was out of the configuration: from the
// SIGHUP that removed it (effective once the API showed that reload)
// until the SIGHUP that added it back.
type absence struct {
	b                      *chaosBackend
	from, effective, until time.Time
}

func newReloadHarness(t *testing.T) *reloadHarness {
	t.Helper()
	base, backendBin := newHarnessBase(t)
	dir := base.dir
	h := &reloadHarness{chaosHarness: base}
	h.bin = buildLimpet(t)
	ports := loopbackPorts(t, reloadBackends+2)
	for i := range reloadBackends {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[i])
		b := &chaosBackend{name: fmt.Sprintf("app-%d", i), addr: addr, id: upstream.IDFor(addr, ""), port: ports[i], bin: backendBin}
		b.logPath = filepath.Join(dir, b.name+".requests")
		b.errPath = filepath.Join(dir, b.name+".log")
		h.backends = append(h.backends, b)
		h.backendByIndex = append(h.backendByIndex, b)
		h.byName[b.name], h.byID[b.id] = b, b
		b.start(t)
		t.Cleanup(func() {
			if b.cmd.ProcessState == nil {
				_ = b.cmd.Process.Signal(syscall.SIGKILL)
				<-b.exited
			}
		})
	}
	h.lbPort = ports[reloadBackends]
	lb := fmt.Sprintf("127.0.0.1:%d", h.lbPort)
	h.admin = fmt.Sprintf("127.0.0.1:%d", ports[reloadBackends+1])
	h.lbURL = "http://" + lb
	h.errLog = filepath.Join(dir, "error.log")
	h.conf = filepath.Join(dir, "limpet.conf")
	h.pidFile = filepath.Join(dir, "limpet.pid")
	h.writeConf(t, reloadStep{servers: []int{0, 1, 2, 3, 4}})
	h.limpet = exec.Command(h.bin, "-c", h.conf)
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
	cmd := h.limpet
	go func() { h.lbErr = cmd.Wait(); close(h.lbExited) }()
	t.Cleanup(func() {
		select {
		case <-h.lbExited:
		default:
			_ = cmd.Process.Kill()
			<-h.lbExited
		}
		// The upgraded process, if the test ended before stopping it.
		if data, err := os.ReadFile(h.pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != cmd.Process.Pid {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			h.dumpLogs(t)
		}
	})
	waitListening(t, lb)
	waitListening(t, h.admin)
	return h
}

// writeConf writes the configuration of a step to the file limpet reads.
func (h *reloadHarness) writeConf(t *testing.T, step reloadStep) {
	t.Helper()
	var servers strings.Builder
	for _, i := range step.servers {
		w := step.weights[i]
		if w == 0 {
			w = 1
		}
		fmt.Fprintf(&servers, "    server %s weight=%d max_fails=1 fail_timeout=%ds;\n", h.backendByIndex[i].addr, w, int(chaosFailTimeout/time.Second))
	}
	if step.broken != "" {
		servers.WriteString("    server " + h.backendByIndex[0].addr + ";\n")
	}
	text := fmt.Sprintf(`pid %s;
error_log %s;
worker_shutdown_timeout %dms;
%s
upstream backend {
    zone backend 256k;
%s    sticky cookie SERVERID path=/;
    keepalive %d;
}
server {
    listen 127.0.0.1:%d;
    access_log %s;
    location / {
        proxy_pass http://backend;
        proxy_next_upstream error timeout;
        # Long enough for the idle WebSockets: nginx's read timeout
        # ends an upgraded connection that is silent for that long.
        proxy_read_timeout 60s;
        sticky_debug_header on;
        health_check interval=1s uri=/health;
    }
}
server {
    listen %s;
    access_log off;
    location /api/ { api write=on; }
    location = /metrics { metrics; }
}
`, h.pidFile, h.errLog, reloadShutdown.Milliseconds(), step.broken, servers.String(), chaosKeepalive, h.lbPort,
		filepath.Join(h.dir, "access.log"), h.admin)
	// Written beside and renamed, as an operator's tooling would: a
	// SIGHUP never reads half a file.
	tmp := h.conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, h.conf); err != nil {
		t.Fatal(err)
	}
}

// patchDrain drains b through the API, as an operator would.
func (h *reloadHarness) patchDrain(t *testing.T, b *chaosBackend) {
	t.Helper()
	id := -1
	res, err := h.adminClient.Get("http://" + h.admin + "/api/9/http/upstreams/backend/servers")
	if err != nil {
		t.Fatal(err)
	}
	var servers []struct {
		ID     int    `json:"id"`
		Server string `json:"server"`
	}
	err = json.NewDecoder(res.Body).Decode(&servers)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if s.Server == b.addr {
			id = s.ID
		}
	}
	req, _ := http.NewRequest(http.MethodPatch, fmt.Sprintf("http://%s/api/9/http/upstreams/backend/servers/%d", h.admin, id), strings.NewReader(`{"drain":true}`))
	req.Header.Set("Content-Type", "application/json")
	res, err = h.adminClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH drain of %s: %v %v", b.name, err, res)
	}
	res.Body.Close()
	h.waitState(t, 5*time.Second, b, "draining")
}

// generation returns the API's configuration generation.
func (h *reloadHarness) generation(t *testing.T) int64 {
	t.Helper()
	var v struct {
		Generation int64 `json:"generation"`
		PID        int   `json:"pid"`
	}
	h.getJSON(t, "/api/9/nginx", &v)
	return v.Generation
}

// servingPID returns the pid of the process that answers the API.
func (h *reloadHarness) servingPID(t *testing.T) int {
	t.Helper()
	var v struct {
		PID int `json:"pid"`
	}
	h.getJSON(t, "/api/9/nginx", &v)
	return v.PID
}

func (h *reloadHarness) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	res, err := h.adminClient.Get("http://" + h.admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// counters returns every counter series of the metrics (a name ending
// in _total) with its value.
func (h *reloadHarness) counters(t *testing.T) map[string]float64 {
	t.Helper()
	res, err := h.adminClient.Get("http://" + h.admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series := line[:i]
		name, _, _ := strings.Cut(series, "{")
		if !strings.HasSuffix(name, "_total") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[series] = v
		}
	}
	return m
}

// waitReloads waits until the metrics count ok good reloads and failed
// refused ones.
func (h *reloadHarness) waitReloads(t *testing.T, ok, failed int) {
	t.Helper()
	waitCond(t, 10*time.Second, fmt.Sprintf("%d reloads refused", failed), func() bool {
		c := h.counters(t)
		return c[`limpet_reloads_total{result="failed"}`] >= float64(failed) && c[`limpet_reloads_total{result="ok"}`] >= float64(ok)
	})
}

// waitLog waits until limpet's stderr and error log have n lines holding
// every one of parts.
func (h *reloadHarness) waitLog(t *testing.T, n int, parts ...string) {
	t.Helper()
	waitCond(t, 10*time.Second, fmt.Sprintf("%d log lines with %q", n, parts), func() bool {
		found := 0
		for _, p := range []string{h.errLog, filepath.Join(h.dir, "limpet.stderr")} {
			data, _ := os.ReadFile(p)
			for _, line := range bytes.Split(data, []byte("\n")) {
				all := true
				for _, part := range parts {
					all = all && bytes.Contains(line, []byte(part))
				}
				if all {
					found++
				}
			}
		}
		return found >= n
	})
}

// upgrade sends SIGUSR2, waits for the new process to write its pid file
// (the old one's renamed to .oldbin) and to answer the API, and returns
// its pid.
func (h *reloadHarness) upgrade(t *testing.T) int {
	t.Helper()
	old := h.limpet.Process.Pid
	if err := h.limpet.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	var pid int
	waitCond(t, 20*time.Second, "the new process's pid file", func() bool {
		data, err := os.ReadFile(h.pidFile)
		if err != nil {
			return false
		}
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return pid != 0 && pid != old
	})
	if data, err := os.ReadFile(h.pidFile + ".oldbin"); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(old) {
		t.Errorf("%s.oldbin: %q %v, want the old pid %d", filepath.Base(h.pidFile), data, err, old)
	}
	waitCond(t, 20*time.Second, "the new process to answer", func() bool { return h.servingPID(t) == pid })
	return pid
}

func mustFindProcess(t *testing.T, pid int) *os.Process {
	t.Helper()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reloadFigures are what the reload test counted.
type reloadFigures struct {
	sent, posts, failed, duplicates, reassigned, movedHealthy int
}

// analyseReloads checks every request of the run against the rules of
// TestReloadUnderLoad.
//
// The drain set through the API lives in the process: from upgraded on,
// the new process knows only the configuration, so its users may read
// "hit" as well as "hit/draining" (a `state` file would carry it).
func (h *reloadHarness) analyseReloads(t *testing.T, recs []chaosRec, absences []absence, drained *chaosBackend, upgraded time.Time) reloadFigures {
	t.Helper()
	problems := 0
	problem := func(format string, args ...any) {
		t.Helper()
		if problems++; problems <= 25 {
			t.Errorf(format, args...)
		}
	}
	seen := map[string][]seenRec{}
	for _, b := range h.backends {
		for id, got := range readSeen(t, b.logPath) {
			seen[id] = append(seen[id], got...)
		}
	}
	absentAt := func(b *chaosBackend, from, to time.Time) bool {
		for _, a := range absences {
			if a.b == b && from.Before(a.until) && to.After(a.from) {
				return true
			}
		}
		return false
	}
	surelyAbsent := func(b *chaosBackend, at time.Time) bool {
		for _, a := range absences {
			if a.b == b && at.After(a.effective) && at.Before(a.until) {
				return true
			}
		}
		return false
	}
	var fig reloadFigures
	for i := range recs {
		r := &recs[i]
		fig.sent++
		if r.method == http.MethodPost {
			fig.posts++
			if n := len(seen[r.id]); n > 1 {
				fig.duplicates++
				problem("a POST received %d times: %v", n, r)
			}
		}
		if !r.ok {
			fig.failed++
			problem("a failed request: %v", r)
			continue
		}
		served := h.byName[r.backend]
		if r.cookie == "" {
			continue // the warm-up, before the drain
		}
		// Its own users keep getting its cookie (every response carries
		// one); a user of another server must never be given it.
		if r.setCookie == drained.id && r.cookie != drained.id && r.start.Before(upgraded) {
			problem("a user given to the draining %s: %v", drained.name, r)
		}
		from := h.byID[r.cookie]
		switch {
		case served == from:
			if surelyAbsent(from, r.start) {
				problem("served by %s after its removal was in effect: %v", from.name, r)
			}
			want := "hit"
			if from == drained && r.start.Before(upgraded) {
				want = "hit/draining"
			}
			if r.sticky != want && !(from == drained && r.sticky == "hit/draining") {
				problem("a user of %s: X-Limpet-Sticky %q, want %q: %v", from.name, r.sticky, want, r)
			}
		case r.sticky == "reassigned/server_removed" && absentAt(from, r.start, r.end) && r.setCookie == served.id:
			fig.reassigned++
		default:
			fig.movedHealthy++
			problem("a user of %s moved to %s without its server being removed: %v", h.nameOf(r.cookie), r.backend, r)
		}
	}
	return fig
}

// reloadWS is a WebSocket through limpet to a backend's /ws echo.
type reloadWS struct {
	n    int
	conn net.Conn
	br   *bufio.Reader
	name string // the backend that answered the upgrade
}

func dialReloadWS(t *testing.T, lbURL string, n int) *reloadWS {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(lbURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: lb\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket %d: %v %v", n, err, res)
	}
	return &reloadWS{n: n, conn: conn, br: br, name: res.Header.Get("X-Backend")}
}

// echo sends a line and expects it back from the backend.
func (ws *reloadWS) echo() error {
	_ = ws.conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := fmt.Sprintf("ping %d\n", ws.n)
	if _, err := ws.conn.Write([]byte(msg)); err != nil {
		return err
	}
	line, err := ws.br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasSuffix(line, " "+msg) {
		return fmt.Errorf("echo %q, want %q", line, msg)
	}
	return nil
}

// waitClosed waits until limpet closes the WebSocket and returns when.
func (ws *reloadWS) waitClosed(t *testing.T) time.Time {
	t.Helper()
	_ = ws.conn.SetReadDeadline(time.Now().Add(reloadShutdown + 20*time.Second))
	for {
		if _, err := ws.br.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("WebSocket %d still open %v after worker_shutdown_timeout", ws.n, 20*time.Second)
			}
			return time.Now()
		}
	}
}
