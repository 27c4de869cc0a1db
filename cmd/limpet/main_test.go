package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// `limpet -t` speaks like `nginx -t`.
func TestTestMode(t *testing.T) {
	good := writeConf(t, `
worker_processes 4;
events { worker_connections 1024; }
upstream backend { server 127.0.0.1:9001; sticky cookie SERVERID expires=1h path=/; }
server { listen 127.0.0.1:18080; access_log off; location / { proxy_pass http://backend; } }
`)
	bad := writeConf(t, "upstream backend {\n    server 127.0.0.1:9001;\n    foo bar;\n}\n")
	openAPI := writeConf(t, "upstream backend { server 127.0.0.1:9001; }\nserver {\n    listen 127.0.0.1:18080;\n    location /api/ { api write=on; }\n}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  []string
	}{
		{"good config", []string{"-t", "-c", good}, 0, []string{
			`limpet: [warn] the "worker_processes" directive has no effect in limpet, ignored in ` + good + ":2",
			"limpet: the configuration file " + good + " syntax is ok",
			"limpet: configuration file " + good + " test is successful",
		}},
		{"open runtime API", []string{"-t", "-c", openAPI}, 0, []string{
			`limpet: [warn] "api" is open to every address: no "allow", "deny" or "auth_basic" applies to location "/api/" in ` + openAPI + ":4",
			"limpet: configuration file " + openAPI + " test is successful",
		}},
		{"bad config", []string{"-t", "-c", bad}, 1, []string{
			`limpet: [emerg] unknown directive "foo" in ` + bad + ":3",
			"limpet: configuration file " + bad + " test failed",
		}},
		{"missing file", []string{"-t", "-c", "/nonexistent/limpet.conf"}, 1, []string{
			`limpet: [emerg] open() "/nonexistent/limpet.conf" failed`,
		}},
		{"unknown flag", []string{"-x"}, 2, []string{"flag provided but not defined: -x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-v"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "limpet version: limpet/") {
		t.Errorf("-v: exit %d, output %q", code, stdout.String())
	}
}

// buildLimpet compiles the binary once for the tests that run it as a
// process.
func buildLimpet(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "limpet")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// On SIGTERM limpet stops accepting, lets the request in flight finish,
// and exits 0.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	started := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	}))
	defer app.Close()
	addr := freePort(t)
	conf := writeConf(t, fmt.Sprintf(`
upstream backend { server %s; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr))
	cmd := exec.Command(buildLimpet(t), "-c", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	waitListening(t, addr)

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- result{string(b), err}
	}()
	<-started
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.body != "finished" {
		t.Errorf("request in flight: %q, %v; want it to finish", r.body, r.err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("limpet did not exit after SIGTERM")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting connections after shutdown")
	}
	if !strings.Contains(stderr.String(), "signal 15 (SIGTERM) received, exiting") {
		t.Errorf("SIGTERM was not logged:\n%s", stderr.String())
	}
}

// `limpet demo` runs the design notes' setup: stickiness, then failover
// through the control panel with the session lost, as the notes warn.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := demoOptions{listen: "127.0.0.1:0", control: "127.0.0.1:0", admin: "127.0.0.2:0", app1: "127.0.0.1:0", app2: "127.0.0.1:0"}
	ready := make(chan [3]string, 1)
	errc := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		errc <- demoRun(ctx, o, out, func(lb, control, admin string) { ready <- [3]string{lb, control, admin} })
	}()
	var addrs [3]string
	select {
	case addrs = <-ready:
	case err := <-errc:
		t.Fatalf("demo: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not start")
	}
	lb, control := "http://"+addrs[0]+"/", "http://"+addrs[1]+"/"
	jar, _ := cookiejar.New(nil)
	user := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	fetch := func() string {
		t.Helper()
		res, err := user.Get(lb)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return strings.TrimSpace(string(b))
	}
	first := fetch()
	server := strings.Fields(first)[0] // "server=app-0N"
	for i := 2; i <= 4; i++ {
		got := fetch()
		if !strings.HasPrefix(got, server+" visits="+fmt.Sprint(i)+" ") {
			t.Fatalf("visit %d: %q, want %s with visits=%d", i, got, server, i)
		}
	}
	name := strings.TrimPrefix(server, "server=")
	res, err := http.Post(control+"backends/"+name+"/stop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	after := fetch()
	if strings.HasPrefix(after, server+" ") || !strings.Contains(after, "visits=1") || !strings.Contains(after, "session=lost") {
		t.Errorf("after stopping %s: %q, want the other server, visits=1 and session=lost", name, after)
	}
	// The admin server shows the failover in the API.
	res, err = http.Get("http://" + addrs[2] + "/api/9/http/upstreams/backend")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"reassigned/server_failed":1`) {
		t.Errorf("the demo's API: %d %s; want the reassignment counted", res.StatusCode, body)
	}
	// The drain command the demo prints works as printed.
	req, _ := http.NewRequest(http.MethodPatch, "http://"+addrs[2]+"/api/9/http/upstreams/backend/servers/0", strings.NewReader(`{"drain":true}`))
	req.Header.Set("Content-Type", "application/json")
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("the demo's drain command: %d, want 200", res.StatusCode)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("demo shutdown: %v", err)
	}
	if !strings.Contains(out.String(), `-H 'Content-Type: application/json' -d '{"drain":true}'`) {
		t.Errorf("the demo's help lacks the drain command:\n%s", out.String())
	}
	if strings.Contains(out.String(), "[warn]") {
		t.Errorf("the demo's configuration has warnings:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "reassigned/server_failed") {
		t.Errorf("the demo's log does not show the reassignment:\n%s", out.String())
	}
}

// syncBuffer is output written by several goroutines (the demo's, a
// process's stderr) and read while it is written.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
