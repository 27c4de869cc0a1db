package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// slowApp is a backend whose /slow requests wait for release.
func slowApp(t *testing.T) (app *backend, inFlight <-chan struct{}, release func()) {
	t.Helper()
	app = newBackend(t, "app")
	started, done := make(chan struct{}, 8), make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			select {
			case <-done:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "app")
	})
	var once bool
	return app, started, func() {
		if !once {
			once = true
			close(done)
		}
	}
}

// getInBackground sends GET url and reads the answer in the background;
// the channel gets the error of the exchange, nil for a whole answer.
func getInBackground(url string) <-chan error {
	done := make(chan error, 1)
	go func() {
		res, err := http.Get(url)
		if err == nil {
			_, err = io.ReadAll(res.Body)
			res.Body.Close()
		}
		done <- err
	}()
	return done
}

// Shutdown ends what a retiring configuration still serves within its
// ctx: a slow request of the old configuration is cut, Shutdown says so,
// and the request's access log line is written.
func TestShutdownCutsARetiringConfigurationsRequest(t *testing.T) {
	app, inFlight, release := slowApp(t)
	defer release()
	conf := `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log {{log}};
    location / { proxy_pass http://backend; proxy_read_timeout 1h; } }`
	lb := startLimpet(t, conf, "{{app}}", app.addr())
	result := getInBackground(lb.url + "/slow")
	<-inFlight
	if err := lb.reload(t, conf, "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := lb.rt.Shutdown(ctx); err == nil {
		t.Error("Shutdown cut a request short and returned nil")
	}
	// The request ended before Shutdown returned: its line is in the
	// log Shutdown closed (a line written after would be dropped).
	if e := parseLog(t, lb.accessLog(t)); len(e) != 1 || e[0].URI != "/slow" {
		t.Errorf("access log after Shutdown: %+v, want the /slow line", e)
	}
	if err := <-result; err == nil {
		t.Error("the cut request read a whole response")
	}
}

// A configuration retiring while an older one still has a WebSocket on
// the same access log does not close that log: the WebSocket's line is
// written when it ends.
func TestChainedRetiresKeepASharedLogOpen(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(echoWebSocket)
	first := `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log {{log}}; location / { proxy_pass http://backend; } }`
	lb := startLimpet(t, first, "{{app}}", app.addr())
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	a := lb.rt.cur.Load()
	if err := lb.reload(t, first, "{{app}}", app.addr()); err != nil { // B: the same log
		t.Fatal(err)
	}
	b := lb.rt.cur.Load()
	other := filepath.Join(t.TempDir(), "other.log")
	second := strings.Replace(first, "{{log}}", other, 1)
	if err := lb.reload(t, second, "{{app}}", app.addr()); err != nil { // C: another log
		t.Fatal(err)
	}
	conn.Close() // the WebSocket ends: its line goes to A's log
	<-a.retired
	<-b.retired
	e := parseLog(t, lb.accessLog(t))
	if len(e) != 1 || e[0].Status != 101 {
		t.Errorf("the first log after the WebSocket ended: %+v, want its 101 line", e)
	}
	if data, _ := os.ReadFile(other); len(data) != 0 {
		t.Errorf("the WebSocket's line went to the new log: %s", data)
	}
}

// A request whose headers were being read when a reload happened is
// served by the new configuration, even when the old one has retired
// before the headers are complete.
func TestRequestReadAcrossAReloadIsServedByTheNewConfiguration(t *testing.T) {
	conf := `server { listen 127.0.0.1:0; access_log off; location / { return 200 "%s"; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, "old"))
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The first request makes the connection's next one a keep-alive
	// request that takes up the Settings when its first byte arrives.
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %v", err)
	} else {
		_, _ = io.ReadAll(res.Body)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\n") // half of the next request
	// The half request is in limpet's buffer once it asks for more:
	// wait for the connection to be reading, as seen by a second
	// request on another connection being served (the server is not
	// stuck), then reload.
	if _, body := get(t, newClient(t), lb.url+"/"); body != "old" {
		t.Fatalf("before the reload: %q", body)
	}
	old := lb.rt.cur.Load()
	if err := lb.reload(t, fmt.Sprintf(conf, "new")); err != nil {
		t.Fatal(err)
	}
	<-old.retired
	fmt.Fprintf(conn, "Host: x\r\n\r\n")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != "new" {
		t.Errorf("a request completed after its old configuration retired: %q, want the new configuration's answer", body)
	}
}

// A reload that replaces a server (max_fails changed) keeps counting the
// requests still in flight on the old one against max_conns.
func TestMaxConnsHoldsAcrossAReplacingReload(t *testing.T) {
	app, inFlight, release := slowApp(t)
	defer release()
	conf := `
upstream backend { server {{app}} max_conns=1 max_fails=%d; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, 1), "{{app}}", app.addr())
	first := getInBackground(lb.url + "/slow")
	<-inFlight
	if err := lb.reload(t, fmt.Sprintf(conf, 2), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	if s := serverOf(t, lb, app.addr()); s.MaxFails != 2 || s.Active() != 1 {
		t.Fatalf("after the reload: max_fails %d, active %d; want 2 and the one in flight", s.MaxFails, s.Active())
	}
	res, _ := get(t, newClient(t), lb.url+"/")
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("a second request while the only server is at max_conns=1: %d, want 502", res.StatusCode)
	}
	release()
	if err := <-first; err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

// A request queued behind a server that a reload gave max_conns is
// served when the request in flight from before the reload ends: the
// end of a request on the replaced server wakes the queue.
func TestQueueWokenAcrossAReloadThatAddsMaxConns(t *testing.T) {
	app, inFlight, release := slowApp(t)
	defer release()
	conf := `
upstream backend { zone backend 64k; server {{app}} %s; queue 4 timeout=10s; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; proxy_read_timeout 1h; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, ""), "{{app}}", app.addr())
	first := getInBackground(lb.url + "/slow")
	<-inFlight
	if err := lb.reload(t, fmt.Sprintf(conf, "max_conns=1"), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	second := make(chan int, 1)
	go func() {
		res, err := http.Get(lb.url + "/")
		if err != nil {
			second <- 0
			return
		}
		res.Body.Close()
		second <- res.StatusCode
	}()
	u := lb.rt.Upstream("backend")
	eventually(t, 10*time.Second, "the second request queued", func() bool { return u.Queue().Size() == 1 })
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if code := <-second; code != 200 {
		t.Errorf("the queued request: %d, want 200 once the first ended", code)
	}
}

// The sockets a binary upgrade handed over and the new configuration did
// not take are the caller's to close; a later reload that adds the
// address back binds it afresh.
func TestReloadBindsAnAddressLeftFromTheInheritedOnes(t *testing.T) {
	kept, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	left, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inherited := map[string]net.Listener{kept.Addr().String(): kept, left.Addr().String(): left}
	conf := `server { listen %s; access_log off; location / { return 200 "up"; } }`
	path := filepath.Join(t.TempDir(), "limpet.conf")
	load := func(text string) *config.Config {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	rt, err := New(load(fmt.Sprintf(conf, kept.Addr())), Options{Inherited: inherited, ErrorLog: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Shutdown(context.Background()) })
	leftAddr := left.Addr().String()
	left.Close() // what cmd/limpet does with the sockets Start did not take
	both := fmt.Sprintf(`server { listen %s; listen %s; access_log off; location / { return 200 "up"; } }`, kept.Addr(), leftAddr)
	if err := rt.Reload(load(both)); err != nil {
		t.Fatalf("a reload that adds back an address left by the upgrade: %v", err)
	}
	if _, body := get(t, newClient(t), "http://"+leftAddr+"/"); body != "up" {
		t.Errorf("the re-added address answers %q", body)
	}
}

// Moving the listen address logs no error for the old socket, which the
// runtime closed itself.
func TestReloadRemovingAnAddressLogsNoError(t *testing.T) {
	conf := `server { listen %s; access_log off; location / { return 200 "up"; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, "127.0.0.1:0"))
	old := lb.rt.cur.Load()
	if err := lb.reload(t, fmt.Sprintf(conf, "127.0.0.1:"+freePort(t))); err != nil {
		t.Fatal(err)
	}
	<-old.retired
	if log := lb.errLog.String(); strings.Contains(log, "serving stopped") {
		t.Errorf("the error log after the old address closed:\n%s", log)
	}
}

// SIGUSR1's reopen reaches the access log of a configuration still
// retiring: its request's line goes to the file at the path, not to the
// one logrotate renamed.
func TestReopenReachesARetiringConfigurationsLog(t *testing.T) {
	app, inFlight, release := slowApp(t)
	defer release()
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.log"), filepath.Join(dir, "two.log")
	conf := `
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log %s; location / { proxy_pass http://backend; proxy_read_timeout 1h; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, one), "{{app}}", app.addr())
	done := getInBackground(lb.url + "/slow")
	<-inFlight
	old := lb.rt.cur.Load()
	if err := lb.reload(t, fmt.Sprintf(conf, two), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(one, one+".1"); err != nil {
		t.Fatal(err)
	}
	if err := lb.rt.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-old.retired // its log flushed and closed
	if data, _ := os.ReadFile(one); !strings.Contains(string(data), `"/slow"`) {
		t.Errorf("%s after the reopen: %q, want the retiring configuration's /slow line", one, data)
	}
}
