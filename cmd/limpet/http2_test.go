//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needProgram returns the path of an installed program, or skips the
// test without it; under CI=true the program must be there.
func needProgram(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed: apt-get install %s to run this test", name, pkg)
	}
	return path
}

// startH2Limpet runs the limpet binary with `http2 on` on a plain
// listener in front of a backend that names itself, and returns its
// address.
func startH2Limpet(t *testing.T) string {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.Proto)
	}))
	t.Cleanup(app.Close)
	addr := freePort(t)
	conf := writeConf(t, fmt.Sprintf(`
upstream backend { server %s; sticky cookie SERVERID; }
server { listen %s; http2 on; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr))
	startLimpet(t, buildLimpet(t), t.TempDir(), "-c", conf)
	waitListening(t, addr)
	return addr
}

// TestCurlHTTP2PriorKnowledge: curl --http2-prior-knowledge against a
// real limpet on a plain listener speaks HTTP/2 and gets the sticky
// cookie; curl without it speaks HTTP/1.1 to the same port.
func TestCurlHTTP2PriorKnowledge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	curl := needProgram(t, "curl", "curl")
	addr := startH2Limpet(t)
	for _, tc := range []struct {
		args  []string
		proto string
	}{
		{[]string{"--http2-prior-knowledge"}, "HTTP/2 200"},
		{[]string{"--http1.1"}, "HTTP/1.1 200"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"-sS", "-i", "--max-time", "20"}, tc.args...)
		out, err := exec.CommandContext(ctx, curl, append(args, "http://"+addr+"/")...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", tc.args, err, out)
		}
		s := string(out)
		if !strings.HasPrefix(s, tc.proto) {
			t.Errorf("curl %v: %q, want it to start with %q", tc.args, s, tc.proto)
		}
		if !regexp.MustCompile(`(?i)\nset-cookie: SERVERID=`).MatchString(s) {
			t.Errorf("curl %v: no sticky cookie in\n%s", tc.args, s)
		}
		if !strings.HasSuffix(s, "app HTTP/1.1") {
			t.Errorf("curl %v: the backend was not spoken to in HTTP/1.1:\n%s", tc.args, s)
		}
	}
}

// TestH2load: a short h2load run (h2c by prior knowledge, several
// clients, concurrent streams) against a real limpet: every request
// succeeds.
func TestH2load(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	h2load := needProgram(t, "h2load", "nghttp2-client")
	addr := startH2Limpet(t)
	s := runH2load(t, h2load, "http://"+addr+"/", 2000)
	if !strings.Contains(s, "Application protocol: h2c") {
		t.Errorf("h2load did not speak h2c:\n%s", s)
	}
}

// runH2load runs h2load for requests requests over 4 connections of 16
// streams each against url, bounded in time, and fails the test unless
// every request succeeded with a 2xx. It returns h2load's output.
func runH2load(t *testing.T, h2load, url string, requests int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, h2load, "-n", strconv.Itoa(requests), "-c", "4", "-m", "16", url).CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	s := string(out)
	// "requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout"
	m := regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("h2load's summary not found:\n%s", s)
	}
	if m[3] != strconv.Itoa(requests) || m[4] != "0" || m[5] != "0" {
		t.Errorf("h2load: %s of %d succeeded, %s failed, %s errored\n%s", m[3], requests, m[4], m[5], s)
	}
	if !strings.Contains(s, "status codes: "+strconv.Itoa(requests)+" 2xx") {
		t.Errorf("h2load: not every status 2xx:\n%s", s)
	}
	return s
}
