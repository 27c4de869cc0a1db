package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// reload writes conf (with "{{name}}" replaced by the values of repl) to
// a new file and reloads lb with it, returning Reload's error.
func (l *limpet) reload(t *testing.T, conf string, repl ...string) error {
	t.Helper()
	conf = strings.NewReplacer(append(repl, "{{log}}", l.logPath)...).Replace(conf)
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		return err
	}
	return l.rt.Reload(cfg)
}

// stickyGet sends GET / with the cookie srv=id ("" for none) on client
// and returns who answered, the persistence label, and whether the
// connection was reused.
func stickyGet(t *testing.T, c *http.Client, url, id string) (served, label string, reused bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/", nil)
	if id != "" {
		req.Header.Set("Cookie", "srv="+id)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET with cookie %q: %v", id, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET with cookie %q: status %d %q", id, res.StatusCode, body)
	}
	return string(body), res.Header.Get("X-Limpet-Sticky"), reused
}

const reloadConf = `
upstream backend { zone backend 64k; %s sticky cookie srv; }
server { listen 127.0.0.1:0; access_log off; sticky_debug_header on;
    location / { proxy_pass http://backend; } }`

// serverOf returns the live server of backend with address addr.
func serverOf(t *testing.T, lb *limpet, addr string) *upstream.Server {
	t.Helper()
	for _, s := range lb.rt.Upstream("backend").Pool().All() {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// A reload keeps each server of the same identity with its state and its
// users: a weight change keeps the Server itself, a changed max_fails
// gives a new one that inherits the state; drain set at run time
// survives; a removed server's users are reassigned with server_removed;
// a keep-alive connection carries on; and a configuration that is wrong
// changes nothing.
func TestReloadCarriesServersByIdentity(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	repl := []string{"{{a}}", a.addr(), "{{b}}", b.addr(), "{{c}}", c.addr()}
	lb := startLimpet(t, fmt.Sprintf(reloadConf, "server {{a}} max_fails=3; server {{b}};"), repl...)
	client := newClient(t)
	client.Jar = nil // each request names its server itself
	idA, idB := upstream.IDFor(a.addr(), ""), upstream.IDFor(b.addr(), "")
	if got, label, _ := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" {
		t.Fatalf("before any reload: %s %s", got, label)
	}
	sa, sb := serverOf(t, lb, a.addr()), serverOf(t, lb, b.addr())
	sb.SetDraining(true) // as PATCH {"drain":true} does
	sa.RecordFailure(time.Now())
	requestsA := sa.Requests()

	// 1. Weight changed, a server added.
	if err := lb.reload(t, fmt.Sprintf(reloadConf, "server {{a}} weight=3 max_fails=3; server {{b}}; server {{c}};"), repl...); err != nil {
		t.Fatal(err)
	}
	if got, label, reused := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" || !reused {
		t.Errorf("user of a after reload: %s %s reused=%v, want a hit on the same connection", got, label, reused)
	}
	if got, label, _ := stickyGet(t, client, lb.url, idB); got != "b" || label != "hit/draining" {
		t.Errorf("user of draining b after reload: %s %s, want b hit/draining (drain kept)", got, label)
	}
	if now := serverOf(t, lb, a.addr()); now != sa || now.Weight != 3 {
		t.Errorf("a after a weight change: same server %v, weight %d; want the same Server, weight 3", now == sa, now.Weight)
	}
	if serverOf(t, lb, c.addr()) == nil {
		t.Error("c was not added")
	}
	for range 6 {
		if got, _, _ := stickyGet(t, client, lb.url, ""); got == "b" {
			t.Fatal("a new user went to the draining server")
		}
	}

	// 2. max_fails changed on a (a new Server inheriting a's state), b
	// removed.
	if err := lb.reload(t, fmt.Sprintf(reloadConf, "server {{a}} max_fails=5; server {{c}};"), repl...); err != nil {
		t.Fatal(err)
	}
	na := serverOf(t, lb, a.addr())
	if na == sa || na.APIID != sa.APIID || na.Requests() < requestsA+2 || na.MaxFails != 5 {
		t.Errorf("a after max_fails changed: new Server %v, API id %d (was %d), requests %d (were %d), max_fails %d",
			na != sa, na.APIID, sa.APIID, na.Requests(), requestsA+2, na.MaxFails)
	}
	if got, label, _ := stickyGet(t, client, lb.url, idB); got == "b" || label != "reassigned/server_removed" {
		t.Errorf("user of removed b: %s %s, want another server, reassigned/server_removed", got, label)
	}
	if got, label, _ := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" {
		t.Errorf("user of a after its max_fails changed: %s %s, want a hit", got, label)
	}

	// 3. A wrong configuration: refused with its file:line, nothing
	// changes.
	err := lb.reload(t, `
upstream backend { server {{a}}; server {{b}}; sticky cookie srv; }
limit_req_zone $no_such_variable zone=z:1m rate=1r/s;
server { listen 127.0.0.1:0; limit_req zone=z; location / { proxy_pass http://backend; } }`, repl...)
	if err == nil || !strings.Contains(err.Error(), "limpet.conf:3") {
		t.Fatalf("reload of a wrong configuration: %v, want an error at limpet.conf:3", err)
	}
	if serverOf(t, lb, b.addr()) != nil || serverOf(t, lb, c.addr()) == nil {
		t.Error("a refused reload changed the servers")
	}
	if got, label, _ := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" {
		t.Errorf("after a refused reload: %s %s", got, label)
	}
	if ok, failed := lb.rt.info.reloadCounts(); ok != 2 || failed != 1 {
		t.Errorf("reloads counted %d ok, %d failed; want 2 and 1", ok, failed)
	}
	if p := lb.rt.Process(); p.Generation != 3 {
		t.Errorf("generation %d, want 3", p.Generation)
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// A reload that moves the listen address opens the new socket, lets the
// old one's request in flight finish with its answer, then closes the
// old socket; one whose address cannot be bound changes nothing.
func TestReloadListenAddresses(t *testing.T) {
	app := newBackend(t, "app")
	inFlight, release := make(chan struct{}), make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inFlight)
			<-release
		}
		io.WriteString(w, "app")
	})
	conf := `
upstream backend { server {{app}}; }
server { listen %s; access_log off; location / { proxy_pass http://backend; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, "127.0.0.1:0"), "{{app}}", app.addr())
	oldAddr := lb.rt.Addrs()[0].String()
	slow := make(chan error, 1)
	go func() {
		res, err := http.Get(lb.url + "/slow")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(body) != "app" {
				err = fmt.Errorf("status %d body %q", res.StatusCode, body)
			}
		}
		slow <- err
	}()
	<-inFlight

	// An address taken by another socket: refused, nothing changes.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = lb.reload(t, fmt.Sprintf(conf, taken.Addr().String()), "{{app}}", app.addr())
	if err == nil || !strings.Contains(err.Error(), "bind() to "+taken.Addr().String()+" failed") {
		t.Fatalf("reload onto a taken port: %v", err)
	}
	if got := lb.rt.Addrs(); len(got) != 1 || got[0].String() != oldAddr {
		t.Fatalf("after a refused reload limpet listens on %v, want %s only", got, oldAddr)
	}

	newAddr := "127.0.0.1:" + freePort(t)
	if err := lb.reload(t, fmt.Sprintf(conf, newAddr), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + newAddr + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("new address: %v", err)
	}
	res.Body.Close()
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("the request in flight on the removed address: %v", err)
	}
	// The old socket closes once its last connection is done.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", oldAddr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the removed address still accepts connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WebSockets opened under the old configuration keep working after a
// reload, until the old configuration's worker_shutdown_timeout ends
// them (nginx's old workers keep theirs); those opened after it are the
// new configuration's.
func TestReloadEndsOldWebSocketsAfterShutdownTimeout(t *testing.T) {
	app := newBackend(t, "app")
	app.setHandler(echoWebSocket)
	conf := `
worker_shutdown_timeout %s;
upstream backend { server {{app}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, "200ms"), "{{app}}", app.addr())
	dialWS := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 101 {
			t.Fatalf("upgrade: %v", err)
		}
		return conn, br
	}
	echo := func(conn net.Conn, br *bufio.Reader) error {
		fmt.Fprintf(conn, "hi\n")
		line, err := br.ReadString('\n')
		if err == nil && line != "echo hi\n" {
			err = fmt.Errorf("read %q", line)
		}
		return err
	}
	oldWS, oldBR := dialWS()
	if err := lb.reload(t, fmt.Sprintf(conf, "1h"), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	if err := echo(oldWS, oldBR); err != nil {
		t.Fatalf("old WebSocket right after the reload: %v", err)
	}
	newWS, newBR := dialWS()
	// The old one ends once its configuration's 200ms are out.
	// (The read's own deadline is 20s: a timeout means it was not.)
	if _, err := oldBR.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("old WebSocket after worker_shutdown_timeout: %v, want it closed (EOF)", err)
	}
	if err := echo(newWS, newBR); err != nil {
		t.Fatalf("the WebSocket opened after the reload: %v", err)
	}
}

// GET /api/9/nginx answers as NGINX Plus does, its generation counting
// the reloads, and the metrics count reloads by result.
func TestReloadSeenByTheAPIAndMetrics(t *testing.T) {
	conf := `
server { listen 127.0.0.1:0; access_log off;
    location /api/ { api; }
    location = /metrics { metrics; }
    location / { return 200 "%s"; } }`
	lb := startLimpet(t, fmt.Sprintf(conf, "one"))
	type nginxObject struct {
		Version, Build, Address string
		Generation              int64
		Load                    string `json:"load_timestamp"`
		PID, PPID               int
	}
	get := func() nginxObject {
		res, err := http.Get(lb.url + "/api/9/nginx")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v nginxObject
		if err := json.NewDecoder(res.Body).Decode(&v); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET /api/9/nginx: %d %v", res.StatusCode, err)
		}
		return v
	}
	before := get()
	if before.Generation != 1 || before.PID != os.Getpid() || before.PPID != os.Getppid() || before.Address != "127.0.0.1" || before.Build != "limpet" {
		t.Fatalf("GET /api/9/nginx: %+v", before)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", before.Load); err != nil {
		t.Fatalf("load_timestamp %q: %v", before.Load, err)
	}
	if err := lb.reload(t, fmt.Sprintf(conf, "two")); err != nil {
		t.Fatal(err)
	}
	if err := lb.reload(t, "limit_conn_zone $nope zone=z:1m; server { listen 127.0.0.1:0; location / { return 200; } }"); err == nil {
		t.Fatal("a reload with a zone keyed by an unknown variable succeeded")
	}
	after := get()
	if after.Generation != 2 || after.Load < before.Load {
		t.Errorf("after one reload: generation %d, load_timestamp %s (was %s); want 2 and later", after.Generation, after.Load, before.Load)
	}
	res, err := http.Get(lb.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`limpet_reloads_total{result="ok"} 1`, `limpet_reloads_total{result="failed"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A weight set through the API survives a reload that leaves the
// server's weight alone in the configuration, as down and drain do; a
// reload that changes it in the configuration applies the new one.
func TestReloadKeepsAPIWeightUnlessTheConfigurationChangesIt(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	conf := `
upstream backend { zone backend 64k; server {{a}} weight=%d; server {{b}}; }
server { listen 127.0.0.1:0; access_log off; location /api/ { api write=on; } location / { proxy_pass http://backend; } }`
	repl := []string{"{{a}}", a.addr(), "{{b}}", b.addr()}
	lb := startLimpet(t, fmt.Sprintf(conf, 1), repl...)
	if status, v := apiJSON(t, "PATCH", lb.url+"/api/9/http/upstreams/backend/servers/0", `{"weight":7}`); status != 200 {
		t.Fatalf("PATCH weight: %d %v", status, v)
	}
	if err := lb.reload(t, fmt.Sprintf(conf, 1), repl...); err != nil {
		t.Fatal(err)
	}
	if w := serverOf(t, lb, a.addr()).Weight; w != 7 {
		t.Errorf("weight after a reload that kept weight=1: %d, want the API's 7", w)
	}
	if err := lb.reload(t, fmt.Sprintf(conf, 3), repl...); err != nil {
		t.Fatal(err)
	}
	if w := serverOf(t, lb, a.addr()).Weight; w != 3 {
		t.Errorf("weight after a reload to weight=3: %d, want 3", w)
	}
}

// A reload reads auth_basic_user_file again: the password changed in the
// file is the one asked for afterwards.
func TestReloadRereadsHtpasswd(t *testing.T) {
	path := htpasswd(t, "ops", "first")
	// A backend, not a `return`: a return answers in the rewrite phase,
	// before auth_basic, as nginx's.
	be := newBackend(t, "in")
	conf := `server { listen 127.0.0.1:0; access_log off;
    location / { auth_basic "ops"; auth_basic_user_file {{htpasswd}}; proxy_pass http://{{be}}; } }`
	lb := startLimpet(t, conf, "{{htpasswd}}", path, "{{be}}", be.addr())
	status := func(password string) int {
		req, _ := http.NewRequest(http.MethodGet, lb.url+"/", nil)
		req.SetBasicAuth("ops", password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status("first"); got != 200 {
		t.Fatalf("the first password before the reload: %d", got)
	}
	if err := os.Rename(htpasswd(t, "ops", "second"), path); err != nil {
		t.Fatal(err)
	}
	if got := status("first"); got != 200 {
		t.Errorf("the first password before the reload, the file changed: %d, want 200 (read at load)", got)
	}
	if err := lb.reload(t, conf, "{{htpasswd}}", path, "{{be}}", be.addr()); err != nil {
		t.Fatal(err)
	}
	if a, b := status("first"), status("second"); a != 401 || b != 200 {
		t.Errorf("after the reload: old password %d, new %d; want 401 and 200", a, b)
	}
}
