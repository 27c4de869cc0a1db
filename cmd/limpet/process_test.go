//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
)

// -s without a running limpet says why in nginx's words and exits 1.
func TestSignalNoProcess(t *testing.T) {
	// A process that has exited: its pid names no process any more.
	dead := exec.Command(os.Args[0], "-test.run=^$")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(conf, []byte("pid run/limpet.pid;\nserver { listen 127.0.0.1:1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "run", "limpet.pid")
	tests := []struct {
		name     string
		pid      *string // the pid file's content; nil: no file
		args     []string
		wantCode int
		want     string
	}{
		{"no pid file", nil, []string{"-s", "quit", "-c", conf}, 1,
			`limpet: [error] open() "` + pidFile + `" failed (2: No such file or directory)`},
		{"empty pid file", ptr(""), []string{"-s", "reload", "-c", conf}, 1,
			`limpet: [error] invalid PID number "" in "` + pidFile + `"`},
		{"not a number", ptr("12ab\n"), []string{"-s", "reopen", "-c", conf}, 1,
			`limpet: [error] invalid PID number "12ab" in "` + pidFile + `"`},
		{"pid 0 is refused", ptr("0\n"), []string{"-s", "stop", "-c", conf}, 1,
			`limpet: [error] invalid PID number "0" in "` + pidFile + `"`},
		{"no such process", ptr(fmt.Sprintf("%d\n", dead.Process.Pid)), []string{"-s", "stop", "-c", conf}, 1,
			fmt.Sprintf("limpet: [alert] kill(%d, 15) failed (3: No such process)", dead.Process.Pid)},
		{"unknown signal", nil, []string{"-s", "restart", "-c", conf}, 2,
			`limpet: invalid option: "-s restart"`},
		{"bad configuration", nil, []string{"-s", "stop", "-c", filepath.Join(dir, "none.conf")}, 1,
			`limpet: [emerg] open() "` + filepath.Join(dir, "none.conf") + `" failed (2: No such file or directory)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.RemoveAll(filepath.Dir(pidFile))
			if tt.pid != nil {
				if err := os.MkdirAll(filepath.Dir(pidFile), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(pidFile, []byte(*tt.pid), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, stderr.String())
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.want {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// limpetProc is a limpet started by the process-control tests, whose
// stderr goes to a file so that a new binary it starts may inherit it
// without holding up Wait.
type limpetProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's, once exited is closed
	stderr string
}

// startLimpet runs bin with args in dir, and stops it (SIGKILL) at the
// end of the test if it is still running.
func startLimpet(t *testing.T, bin, dir string, args ...string) *limpetProc {
	t.Helper()
	return startLimpetEnv(t, bin, dir, nil, args...)
}

// startLimpetEnv is startLimpet with variables added to the environment.
func startLimpetEnv(t *testing.T, bin, dir string, env []string, args ...string) *limpetProc {
	t.Helper()
	stderr := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &limpetProc{cmd: exec.Command(bin, args...), exited: make(chan struct{}), stderr: stderr}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// wait waits for the process to exit and checks that it exited 0.
func (p *limpetProc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("limpet: %v\n%s", p.err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("limpet did not exit\n%s", p.log())
	}
}

func (p *limpetProc) log() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// limpetCLI runs the binary to completion (-s) and returns its exit code
// and output.
func limpetCLI(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// waitFile waits until the file at path holds what want accepts.
func waitFile(t *testing.T, path, what string, want func(string) bool) string {
	t.Helper()
	var got string
	waitFor(t, what, func() bool {
		b, err := os.ReadFile(path)
		got = string(b)
		return err == nil && want(got)
	})
	return got
}

// waitPIDFile waits for path to name a process other than not, and
// returns its pid.
func waitPIDFile(t *testing.T, path string, not int) int {
	t.Helper()
	var pid int
	waitFile(t, path, "the pid file "+path, func(s string) bool {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "\n"))
		pid = n
		return err == nil && n > 0 && n != not && strings.HasSuffix(s, "\n")
	})
	return pid
}

func get(c *http.Client, url string) (int, string, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// The pid file, -p, and -s: a configuration under a prefix with relative
// paths, started and signalled from another directory as nginx's would
// be; -s reopen after a logrotate-style rename; -s reload with a broken
// file (kept running); -s stop.
func TestPrefixAndSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildLimpet(t)
	prefix := t.TempDir()
	for _, d := range []string{"conf", "logs", "run"} {
		if err := os.Mkdir(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app")
	}))
	defer app.Close()
	addr := freePort(t)
	// include resolves against the configuration's directory (conf/),
	// the logs and the pid file against the prefix.
	files := map[string]string{
		"conf/upstreams.conf": fmt.Sprintf("upstream backend { server %s; }\n", app.Listener.Addr()),
		"conf/limpet.conf": fmt.Sprintf(`pid run/limpet.pid;
error_log logs/error.log;
include upstreams.conf;
server {
    listen %s;
    access_log logs/access.log;
    location / { proxy_pass http://backend; }
}
`, addr),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(prefix, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	elsewhere := t.TempDir() // the working directory: nothing resolves against it
	args := []string{"-p", prefix, "-c", "conf/limpet.conf"}
	p := startLimpet(t, bin, elsewhere, args...)
	pidFile := filepath.Join(prefix, "run", "limpet.pid")
	if pid := waitPIDFile(t, pidFile, 0); pid != p.cmd.Process.Pid {
		t.Fatalf("pid file names %d, limpet is %d", pid, p.cmd.Process.Pid)
	}
	waitListening(t, addr)
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + addr + "/"
	if code, body, err := get(client, url+"first"); err != nil || code != 200 || body != "app" {
		t.Fatalf("GET: %d %q %v", code, body, err)
	}
	accessLog := filepath.Join(prefix, "logs", "access.log")
	errorLog := filepath.Join(prefix, "logs", "error.log")
	waitFile(t, accessLog, "the first request's log line", func(s string) bool { return strings.Contains(s, `"uri":"/first"`) })

	// logrotate: rename both logs, then -s reopen.
	for _, f := range []string{accessLog, errorLog} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := limpetCLI(t, bin, elsewhere, append([]string{"-s", "reopen"}, args...)...); code != 0 {
		t.Fatalf("-s reopen: exit %d\n%s", code, out)
	}
	waitFile(t, errorLog+".1", "the reopen notice", func(s string) bool {
		return strings.Contains(s, `msg="signal 10 (SIGUSR1) received, reopening logs"`)
	})
	waitFor(t, "a new access log", func() bool { _, err := os.Stat(accessLog); return err == nil })
	if code, body, err := get(client, url+"second"); err != nil || code != 200 || body != "app" {
		t.Fatalf("GET after reopen: %d %q %v", code, body, err)
	}
	waitFile(t, accessLog, "the second request in the new access log", func(s string) bool { return strings.Contains(s, `"uri":"/second"`) })
	if b, _ := os.ReadFile(accessLog + ".1"); strings.Contains(string(b), "/second") {
		t.Error("the request after reopen went to the rotated access log")
	}

	// A broken configuration on reload is reported with its file and
	// line, and the running one is kept. The new error log shows it.
	conf := filepath.Join(prefix, "conf", "limpet.conf")
	good, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, append(good, "foo;\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	// -s reads the configuration too, so the signal goes with a good one
	// in place; kill does what -s reload would with the broken one.
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFile(t, errorLog, "the reload's error", func(s string) bool {
		return strings.Contains(s, `level=INFO msg="signal 1 (SIGHUP) received, reconfiguring"`) &&
			strings.Contains(s, `level=EMERG msg="[emerg] unknown directive \"foo\" in `+conf+`:9"`)
	})
	if code, body, err := get(client, url+"third"); err != nil || code != 200 || body != "app" {
		t.Fatalf("GET after a failed reload: %d %q %v", code, body, err)
	}
	if err := os.WriteFile(conf, good, 0o644); err != nil {
		t.Fatal(err)
	}

	if code, out := limpetCLI(t, bin, elsewhere, append([]string{"-s", "stop"}, args...)...); code != 0 {
		t.Fatalf("-s stop: exit %d\n%s", code, out)
	}
	p.wait(t)
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pid file is left after exit: %v", err)
	}
	if s := p.log() + readFile(errorLog); !strings.Contains(s, "signal 15 (SIGTERM) received, exiting") {
		t.Errorf("no stop notice:\n%s", s)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// -s quit is a graceful stop: the listener closes at once, and the
// request in flight finishes.
func TestQuitIsGraceful(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	started := make(chan struct{})
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	defer app.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	dir := t.TempDir()
	addr := freePort(t)
	conf := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
upstream backend { server %s; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildLimpet(t)
	p := startLimpet(t, bin, dir, "-c", conf)
	waitPIDFile(t, filepath.Join(dir, "limpet.pid"), 0)
	waitListening(t, addr)
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := get(&http.Client{Timeout: 30 * time.Second}, "http://"+addr+"/slow")
		done <- result{code, body, err}
	}()
	<-started
	if code, out := limpetCLI(t, bin, dir, "-s", "quit", "-c", conf); code != 0 {
		t.Fatalf("-s quit: exit %d\n%s", code, out)
	}
	waitFor(t, "new connections refused", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case r := <-done:
		t.Fatalf("the request in flight ended before its response: %+v", r)
	default:
	}
	close(release)
	if r := <-done; r.err != nil || r.code != 200 || r.body != "finished" {
		t.Errorf("request in flight: %d %q %v; want 200 finished", r.code, r.body, r.err)
	}
	p.wait(t)
	if s := p.log(); !strings.Contains(s, "signal 3 (SIGQUIT) received, shutting down") {
		t.Errorf("no graceful stop notice:\n%s", s)
	}
}

// worker_shutdown_timeout bounds a graceful stop: a request that does not
// end is cut when it runs out, and limpet exits.
func TestQuitShutdownTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	started := make(chan struct{})
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	defer app.Close()
	defer close(release) // before app.Close, which waits for the handler
	dir := t.TempDir()
	addr := freePort(t)
	conf := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`worker_shutdown_timeout 200ms;
upstream backend { server %s; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startLimpet(t, buildLimpet(t), dir, "-c", conf)
	waitListening(t, addr)
	done := make(chan error, 1)
	go func() {
		_, _, err := get(&http.Client{Timeout: 30 * time.Second}, "http://"+addr+"/forever")
		done <- err
	}()
	<-started
	if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
	if err := <-done; err == nil {
		t.Error("the request that never ends got a response")
	}
	if s := p.log(); !strings.Contains(s, "graceful shutdown cut short") {
		t.Errorf("no word of the cut:\n%s", s)
	}
}

// The binary upgrade: SIGUSR2 starts the new binary on the same sockets,
// SIGQUIT to the old one ends it, and clients, with and without
// keep-alive, see no failure throughout.
func TestBinaryUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app")
	}))
	defer app.Close()
	dir := t.TempDir()
	addr := freePort(t)
	conf := filepath.Join(dir, "limpet.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
upstream backend { server %s; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }
`, app.Listener.Addr(), addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	// systemd's notification socket, to see the new binary take the
	// service over (Type=notify).
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	notes := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- string(buf[:n])
		}
	}()
	nextNote := func() string {
		t.Helper()
		select {
		case s := <-notes:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no notification to systemd")
		}
		return ""
	}
	// The binary runs from a path of its own, which the new build then
	// replaces, as an operator's `mv` would.
	bin := filepath.Join(dir, "limpet")
	if err := os.Rename(buildLimpet(t), bin); err != nil {
		t.Fatal(err)
	}
	newBin := filepath.Join(t.TempDir(), "limpet")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=upgraded", "-o", newBin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	newImage, err := os.ReadFile(newBin)
	if err != nil {
		t.Fatal(err)
	}
	old := startLimpetEnv(t, bin, dir, []string{"NOTIFY_SOCKET=" + notifyPath}, "-c", conf)
	if s := nextNote(); s != "READY=1" {
		t.Errorf("first notification %q, want READY=1", s)
	}
	pidFile := filepath.Join(dir, "limpet.pid")
	waitPIDFile(t, pidFile, 0)
	waitListening(t, addr)

	// Clients in a loop until told to stop.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, keepAlive := range []bool{true, false, false} {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
		wg.Go(func() {
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := get(c, "http://"+addr+"/")
				if err == nil && (code != 200 || body != "app") {
					err = fmt.Errorf("%d %q", code, body)
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		})
	}
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer halt()
	waitFor(t, "requests through the old binary", func() bool { return ok.Load() > 100 })

	if err := os.Rename(newBin, bin); err != nil {
		t.Fatal(err)
	}
	if err := old.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	newPID := waitPIDFile(t, pidFile, old.cmd.Process.Pid)
	t.Cleanup(func() {
		// By its pid: it is the old binary's child, not the test's.
		if syscall.Kill(newPID, 0) == nil {
			_ = syscall.Kill(newPID, syscall.SIGKILL)
		}
	})
	if image, err := os.ReadFile(fmt.Sprintf("/proc/%d/exe", newPID)); err != nil {
		t.Errorf("the new process's executable: %v", err)
	} else if !bytes.Equal(image, newImage) {
		t.Error("the new process does not run the binary now at the old one's path")
	}
	if s, want := nextNote(), fmt.Sprintf("MAINPID=%d\nREADY=1", newPID); s != want {
		t.Errorf("the new binary notified %q, want %q", s, want)
	}
	if got := readFile(pidFile + ".oldbin"); got != fmt.Sprintf("%d\n", old.cmd.Process.Pid) {
		t.Fatalf("%s.oldbin: %q, want the old pid %d", pidFile, got, old.cmd.Process.Pid)
	}
	// A second SIGUSR2 while the new binary runs is ignored.
	if err := old.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFile(t, old.stderr, "the new binary listening", func(s string) bool {
		return strings.Contains(s, fmt.Sprintf(`using inherited sockets from "%s=3;"`, addr)) &&
			strings.Contains(s, "the changing binary signal is ignored")
	})
	// A SIGHUP to the old binary meanwhile is nginx's rollback request:
	// it keeps its configuration rather than read the file again.
	if err := old.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFile(t, old.stderr, "the old binary keeping its configuration", func(s string) bool {
		return strings.Contains(s, "signal 1 (SIGHUP) received, keeping the configuration while a new binary runs") &&
			!strings.Contains(s, "reconfiguring")
	})

	before := ok.Load()
	if err := old.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	old.wait(t)
	if s := nextNote(); s != "STOPPING=1" {
		t.Errorf("the old binary notified %q, want STOPPING=1", s)
	}
	if _, err := os.Stat(pidFile + ".oldbin"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old binary left %s.oldbin: %v", pidFile, err)
	}
	// Only the new binary has the socket now.
	waitFor(t, "requests through the new binary", func() bool { return ok.Load() > before+100 })
	halt()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the upgrade; the first: %v", n, n+ok.Load(), firstErr.Load())
	}

	if err := syscall.Kill(newPID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new binary's exit", func() bool {
		_, err := os.Stat(pidFile)
		return errors.Is(err, os.ErrNotExist) && (syscall.Kill(newPID, 0) != nil || procState(newPID) == 'Z')
	})
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("something still listens after both binaries stopped")
	}
}

// A new binary that fails to start (here: its configuration broke in
// the meantime) leaves the old one serving, with its pid file back.
func TestBinaryUpgradeFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	addr := freePort(t)
	conf := filepath.Join(dir, "limpet.conf")
	good := fmt.Sprintf("server { listen %s; access_log off; location / { return 200 \"up\"; } }\n", addr)
	if err := os.WriteFile(conf, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildLimpet(t)
	p := startLimpet(t, bin, dir, "-c", conf)
	pidFile := filepath.Join(dir, "limpet.pid")
	waitPIDFile(t, pidFile, 0)
	waitListening(t, addr)
	if err := os.WriteFile(conf, []byte(good+"foo;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFile(t, p.stderr, "the new binary's failure", func(s string) bool {
		return strings.Contains(s, `limpet: [emerg] unknown directive "foo" in `+conf+":2") &&
			strings.Contains(s, "exited with code 1")
	})
	if got := readFile(pidFile); got != fmt.Sprintf("%d\n", p.cmd.Process.Pid) {
		t.Errorf("pid file after the failed upgrade: %q, want %d", got, p.cmd.Process.Pid)
	}
	if _, err := os.Stat(pidFile + ".oldbin"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.oldbin left: %v", pidFile, err)
	}
	if code, body, err := get(&http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/"); err != nil || code != 200 || body != "up" {
		t.Errorf("the old binary after the failed upgrade: %d %q %v", code, body, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
}
