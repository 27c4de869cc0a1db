package runtime

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/limpet-lb/limpet/internal/upstream"
)

const maxConnsConf = `
upstream backend {
    zone backend 64k;
    server {{app1}} max_conns=1;
    server {{app2}} max_conns=1;
    sticky cookie SERVERID;
    queue 1 timeout=1m;
}
upstream short {
    zone short 64k;
    server {{app3}} max_conns=1;
    queue 1 timeout=50ms;
}
server {
    listen 127.0.0.1:0;
    access_log off;
    sticky_debug_header on;
    location / { proxy_pass http://backend; }
    location /short/ { proxy_pass http://short; }
    location /api/ { api; }
    location = /metrics { metrics; }
}`

// gatedBackend is a backend whose every request announces itself on
// arrived and then waits for a value on release before it answers.
type gatedBackend struct {
	*backend
	arrived chan struct{}
	release chan struct{}
}

func newGatedBackend(t *testing.T, name string) *gatedBackend {
	g := &gatedBackend{backend: newBackend(t, name), arrived: make(chan struct{}, 8), release: make(chan struct{})}
	done := make(chan struct{})
	// Registered after newBackend's, so it runs first: no handler is
	// left blocked when the server closes.
	t.Cleanup(func() { close(done) })
	g.setHandler(func(w http.ResponseWriter, r *http.Request) {
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-done:
		}
		_, _ = io.WriteString(w, name)
	})
	return g
}

// result is the outcome of a request sent in the background.
type result struct {
	status int
	body   string
	sticky string // X-Limpet-Sticky
	cookie string // Set-Cookie
	err    error
}

// send sends a GET in the background with the given Cookie header ("" for
// none) and delivers its result on the returned channel.
func send(url, cookie string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			ch <- result{err: err}
			return
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
		res, err := c.Do(req)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		ch <- result{status: res.StatusCode, body: string(body), sticky: res.Header.Get("X-Limpet-Sticky"), cookie: res.Header.Get("Set-Cookie"), err: err}
	}()
	return ch
}

// upstreamStatus reads an upstream's queue and peers from the runtime API.
type upstreamStatus struct {
	Queue *struct {
		Size      int64 `json:"size"`
		MaxSize   int   `json:"max_size"`
		Overflows int64 `json:"overflows"`
	} `json:"queue"`
	Peers []struct {
		Server   string `json:"server"`
		Active   int64  `json:"active"`
		MaxConns int    `json:"max_conns"`
	} `json:"peers"`
}

func apiStatus(t *testing.T, lb *limpet, name string) upstreamStatus {
	t.Helper()
	res, body := get(t, newClient(t), lb.url+"/api/9/http/upstreams/"+name)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("API: %d %s", res.StatusCode, body)
	}
	var st upstreamStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("API: %v in %s", err, body)
	}
	if st.Queue == nil {
		t.Fatalf("API: upstream %s has no queue object: %s", name, body)
	}
	return st
}

// queueSize waits until the upstream's queue, as the API shows it, holds n
// requests.
func queueSize(t *testing.T, lb *limpet, name string, n int64) {
	t.Helper()
	eventually(t, 10*time.Second, "queue size of "+name+" reaching "+strconv.FormatInt(n, 10), func() bool {
		return apiStatus(t, lb, name).Queue.Size == n
	})
}

func arrival(t *testing.T, what string, backends ...*gatedBackend) *gatedBackend {
	t.Helper()
	cases := make([]chan struct{}, len(backends))
	for i, b := range backends {
		cases[i] = b.arrived
	}
	select {
	case <-cases[0]:
		return backends[0]
	case <-cases[len(cases)-1]:
		return backends[len(backends)-1]
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no backend got the request", what)
	}
	return nil
}

func wantResult(t *testing.T, what string, ch <-chan result, status int, body string) result {
	t.Helper()
	r := <-ch
	if r.err != nil {
		t.Fatalf("%s: %v", what, r.err)
	}
	if r.status != status || (body != "" && r.body != body) {
		t.Fatalf("%s: %d %q, want %d %q", what, r.status, r.body, status, body)
	}
	return r
}

// max_conns and the queue through a whole limpet with real slow backends:
// a full server takes no new request (its sticky user goes elsewhere), a
// request that finds every server full waits in the queue and is served
// when a slot frees, one beyond the queue's size gets 502 at once, one
// whose client leaves quits the queue, one past the timeout gets 502; the
// API and the metrics show it all.
func TestMaxConnsAndQueue(t *testing.T) {
	app1, app2, app3 := newGatedBackend(t, "app-01"), newGatedBackend(t, "app-02"), newGatedBackend(t, "app-03")
	errLog := &syncBuffer{}
	lb := startLimpetLogging(t, maxConnsConf, errLog, errLog, "{{app1}}", app1.addr(), "{{app2}}", app2.addr(), "{{app3}}", app3.addr())

	// A takes one server's only slot.
	a := send(lb.url+"/a", "")
	first := arrival(t, "A", app1, app2)
	other := app2
	if first == app2 {
		other = app1
	}
	// B's cookie names A's server, which is full: B goes to the other.
	b := send(lb.url+"/b", "SERVERID="+upstream.IDFor(first.addr(), ""))
	if got := arrival(t, "B", app1, app2); got != other {
		t.Fatalf("B went to %s, the full server; want %s", got.name, other.name)
	}
	st := apiStatus(t, lb, "backend")
	for _, p := range st.Peers {
		if p.MaxConns != 1 || p.Active != 1 {
			t.Errorf("API peer %s: max_conns %d active %d, want 1 and 1", p.Server, p.MaxConns, p.Active)
		}
	}
	if st.Queue.MaxSize != 1 || st.Queue.Size != 0 || st.Queue.Overflows != 0 {
		t.Errorf("API queue %+v, want max_size 1, empty, no overflows", *st.Queue)
	}

	// Every server is full: C waits in the queue, D finds it full.
	c := send(lb.url+"/c", "")
	queueSize(t, lb, "backend", 1)
	d := send(lb.url+"/d", "")
	wantResult(t, "D, beyond the queue", d, http.StatusBadGateway, "")
	if st := apiStatus(t, lb, "backend"); st.Queue.Overflows != 1 || st.Queue.Size != 1 {
		t.Errorf("API queue after the overflow %+v, want size 1, 1 overflow", *st.Queue)
	}

	// A ends: its slot goes to C, which the queue held.
	first.release <- struct{}{}
	wantResult(t, "A", a, http.StatusOK, first.name)
	if got := arrival(t, "C", app1, app2); got != first {
		t.Fatalf("C went to %s, want %s, whose slot freed", got.name, first.name)
	}
	first.release <- struct{}{}
	wantResult(t, "C, queued", c, http.StatusOK, first.name)
	other.release <- struct{}{}
	if r := wantResult(t, "B", b, http.StatusOK, other.name); r.sticky != "reassigned/server_full" ||
		!strings.HasPrefix(r.cookie, "SERVERID="+upstream.IDFor(other.addr(), "")) {
		t.Errorf("B: sticky %q, Set-Cookie %q; want reassigned/server_full and a cookie for %s", r.sticky, r.cookie, other.name)
	}

	// A client that leaves while queued leaves the queue.
	a = send(lb.url+"/a", "")
	arrival(t, "A again", app1, app2)
	b = send(lb.url+"/b", "")
	arrival(t, "B again", app1, app2)
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	queueSize(t, lb, "backend", 1)
	_ = conn.Close()
	queueSize(t, lb, "backend", 0)
	app1.release <- struct{}{}
	app2.release <- struct{}{}
	wantResult(t, "A again", a, http.StatusOK, "")
	wantResult(t, "B again", b, http.StatusOK, "")
	// The request that left took no slot: the next one is served at once.
	e := send(lb.url+"/e", "")
	got := arrival(t, "E", app1, app2)
	got.release <- struct{}{}
	wantResult(t, "E", e, http.StatusOK, got.name)

	// The short upstream's queue gives up after its timeout.
	held := send(lb.url+"/short/held", "")
	arrival(t, "held", app3)
	late := send(lb.url+"/short/late", "")
	wantResult(t, "queued past the timeout", late, http.StatusBadGateway, "")
	app3.release <- struct{}{}
	wantResult(t, "held", held, http.StatusOK, "app-03")
	if st := apiStatus(t, lb, "short"); st.Queue.Size != 0 || st.Queue.Overflows != 0 {
		t.Errorf("short queue after the timeout %+v, want empty, no overflows", *st.Queue)
	}
	for _, msg := range []string{`msg="upstream queue is full" upstream=backend`, `msg="upstream queue timed out" upstream=short`} {
		if !strings.Contains(errLog.String(), msg) {
			t.Errorf("error log lacks %s:\n%s", msg, errLog.String())
		}
	}

	// The metrics read the same counters.
	res, err := http.Get(lb.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	metric := func(name, up string) (n int, total float64) {
		for _, m := range families[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "upstream" && l.GetValue() == up {
					n++
					total += value(m)
				}
			}
		}
		return n, total
	}
	for _, tt := range []struct {
		name, upstream string
		series         int
		total          float64
	}{
		{"limpet_upstream_queue_size", "backend", 1, 0},
		{"limpet_upstream_queue_max_size", "backend", 1, 1},
		{"limpet_upstream_queue_overflows_total", "backend", 1, 1},
		{"limpet_upstream_queue_overflows_total", "short", 1, 0},
		{"limpet_upstream_server_max_conns", "backend", 2, 2},
		{"limpet_upstream_server_max_conns", "short", 1, 1},
	} {
		if n, total := metric(tt.name, tt.upstream); n != tt.series || total != tt.total {
			t.Errorf("%s{upstream=%q}: %d series totalling %v, want %d totalling %v", tt.name, tt.upstream, n, total, tt.series, tt.total)
		}
	}
}

// A server brought up through the API takes a request waiting in the
// queue at once: the change wakes the queue.
func TestQueueWokenByAPI(t *testing.T) {
	app1, app2 := newGatedBackend(t, "app-01"), newGatedBackend(t, "app-02")
	conf := `
upstream backend {
    zone backend 64k;
    server {{app1}} max_conns=1;
    server {{app2}} down;
    queue 1 timeout=1m;
}
server {
    listen 127.0.0.1:0;
    access_log off;
    location / { proxy_pass http://backend; }
    location /api/ { api write=on; }
}`
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	held := send(lb.url+"/held", "")
	arrival(t, "held", app1)
	queued := send(lb.url+"/queued", "")
	queueSize(t, lb, "backend", 1)

	req, err := http.NewRequest(http.MethodPatch, lb.url+"/api/9/http/upstreams/backend/servers/1", strings.NewReader(`{"down":false}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if res, body := do(t, newClient(t), req); res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}
	arrival(t, "queued", app2)
	app2.release <- struct{}{}
	wantResult(t, "queued", queued, http.StatusOK, "app-02")
	app1.release <- struct{}{}
	wantResult(t, "held", held, http.StatusOK, "app-01")
}
