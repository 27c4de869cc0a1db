package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeaderMemoryBounded holds 200 connections whose unfinished headers
// are as large as nginx's default buffers allow, then sends 200 whose
// headers are far larger: limpet's memory stays bounded by its buffers
// (under 100 MiB of RSS), the oversized ones are refused and closed, and
// an ordinary request is still served. Before the buffers were enforced,
// 200 connections holding 1 MiB each took limpet to some 730 MiB.
func TestHeaderMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	const conns = 200
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer app.Close()
	addr := freePort(t)
	conf := writeConf(t, fmt.Sprintf(`
upstream backend { server %s; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr))
	cmd := exec.Command(buildLimpet(t), "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitListening(t, addr)
	before := vmRSS(t, cmd.Process.Pid)

	// 1k + 4 × 8k is the most a header may hold: each connection sends
	// 32 KiB of 8 KiB fields and stops short of the header's end.
	field := "X-Fill: " + strings.Repeat("f", 8000) + "\r\n"
	partial := "GET / HTTP/1.1\r\nHost: lb\r\n" + strings.Repeat(field, 4)
	held := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, partial); err != nil {
			t.Fatal(err)
		}
	}
	_, port, _ := net.SplitHostPort(addr)
	waitRead(t, port, conns)
	holding := vmRSS(t, cmd.Process.Pid)

	// 200 more at once, each sending 1000 KiB of header without its
	// end: each is refused once the buffers are full, and closed.
	hugeField := "Cookie: " + strings.Repeat("c", 1000<<10) + "\r\n"
	type answer struct {
		status int
		err    error
	}
	answers := make(chan answer, conns)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		go func() { _, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: lb\r\n"+hugeField) }()
		go func() {
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			res.Body.Close()
			answers <- answer{status: res.StatusCode}
		}()
	}
	refused := 0
	for range conns {
		a := <-answers
		if a.err != nil {
			t.Fatalf("oversized header: %v", a.err)
		}
		if a.status == http.StatusBadRequest {
			refused++
		}
	}
	after, peak := vmRSS(t, cmd.Process.Pid), vmHWM(t, cmd.Process.Pid)

	res, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.Logf("RSS: %.1f MiB at start, %.1f MiB holding %d unfinished 32 KiB headers, %.1f MiB after %d more sending 1000 KiB headers at once (%d refused with 400); peak %.1f MiB",
		mib(before), mib(holding), conns, mib(after), conns, refused, mib(peak))
	if refused != conns {
		t.Errorf("%d of %d oversized headers refused with 400", refused, conns)
	}
	if res.StatusCode != 200 || string(body) != "ok" {
		t.Errorf("ordinary request: %d %q", res.StatusCode, body)
	}
	if peak > 100<<20 {
		t.Errorf("peak RSS %.1f MiB, want under 100 MiB", mib(peak))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// vmRSS returns the resident set size of process pid, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	return procStatus(t, pid, "VmRSS:")
}

// vmHWM returns the peak resident set size of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	return procStatus(t, pid, "VmHWM:")
}

// procStatus returns a size field of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// waitRead waits until at least n connections to the local port are
// established and the server has read everything they sent (their
// receive queues in /proc/net/tcp are empty).
func waitRead(t *testing.T, port string, n int) {
	t.Helper()
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf(":%04X", p)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		established, queued := 0, 0
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 5 || !strings.HasSuffix(f[1], local) || f[3] != "01" {
				continue
			}
			established++
			if _, rx, ok := strings.Cut(f[4], ":"); ok && strings.Trim(rx, "0") != "" {
				queued++
			}
		}
		if established >= n && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections established, %d with unread bytes; want %d read whole", established, queued, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
