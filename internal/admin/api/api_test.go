package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// t0 is the fixtures' moment of activity; the clock starts 5s later.
var t0 = time.Date(2026, 11, 26, 19, 40, 1, 512e6, time.UTC)

// clock is an injected, settable time.
type clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// upstreams is the test's runtime: named upstreams in order.
type upstreams struct {
	names []string
	m     map[string]*live.Upstream
}

func (u *upstreams) Names() []string                     { return u.names }
func (u *upstreams) Upstream(name string) *live.Upstream { return u.m[name] }

// rrFactory builds round-robin balancers, with a backup one when there are
// backup servers, as the runtime does for the default method.
func rrFactory(primary, backup []*upstream.Server) (balance.Balancer, balance.Balancer) {
	var b balance.Balancer
	if len(backup) > 0 {
		b = balance.NewRoundRobin(backup)
	}
	return balance.NewRoundRobin(primary), b
}

// server returns a server as the runtime builds it from a `server` line.
func server(name, addr string, weight int, mod ...func(*upstream.Server)) *upstream.Server {
	s := &upstream.Server{Name: name, Addr: addr, Weight: weight, MaxFails: 1, FailTimeout: 10 * time.Second}
	for _, m := range mod {
		m(s)
	}
	s.ID = upstream.IDFor(s.Addr, s.Route)
	return s
}

// fixture is an API over two upstreams, "backend" (three servers with some
// history) and "static" (one server), behind a real TCP server.
type fixture struct {
	t       *testing.T
	clock   *clock
	ups     *upstreams
	backend *live.Upstream
	a, b, c *upstream.Server
	url     string

	logMu sync.Mutex // guards logs
	logs  bytes.Buffer
}

func newFixture(t *testing.T, write bool) *fixture {
	t.Helper()
	return newFixtureOrigins(t, write, nil)
}

// newFixtureOrigins is newFixture with trusted origins (`api origin=`).
func newFixtureOrigins(t *testing.T, write bool, origins []string) *fixture {
	t.Helper()
	a := server("app-01.internal:80", "10.0.0.1:80", 5)
	b := server("10.0.0.2:8080", "10.0.0.2:8080", 1, func(s *upstream.Server) {
		s.Route, s.MaxFails, s.FailTimeout, s.SlowStart = "b", 2, 30*time.Second, 20*time.Second
	})
	c := server("[2001:db8::3]", "[2001:db8::3]:80", 1, func(s *upstream.Server) { s.Backup = true })

	a.Begin()
	a.Begin()
	a.End()
	a.RecordResponse(200)
	a.RecordResponse(302)
	a.RecordSelected(t0)
	a.RecordPinned(t0)
	b.Begin()
	b.End()
	b.RecordFailure(t0)
	b.RecordFailure(t0)
	c.RecordCheck(false)
	c.SetHealth(upstream.HealthUnhealthy, t0)

	backend := live.New("backend", live.Policy{}, []*upstream.Server{a, b, c})
	static := live.New("static", live.Policy{}, []*upstream.Server{server("10.0.1.1:80", "10.0.1.1:80", 1)})
	ups := &upstreams{names: []string{"static", "backend"}, m: map[string]*live.Upstream{"backend": backend, "static": static}}

	f := &fixture{t: t, clock: &clock{now: t0.Add(5 * time.Second)}, ups: ups, backend: backend, a: a, b: b, c: c}
	h := New(ups, Options{
		Write: write,
		Now:   f.clock.Now,
		Resolve: func(_ context.Context, host string) ([]string, error) {
			switch host {
			case "app.internal":
				return []string{"10.0.0.7", "10.0.0.8", "10.0.0.7"}, nil
			case "overlap.internal":
				return []string{"10.0.0.9", "10.0.0.1"}, nil
			}
			return nil, errors.New("no such host")
		},
		Log:     slog.New(slog.NewTextHandler(logWriter{f}, nil)),
		Origins: origins,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// logWriter collects the handler's log lines.
type logWriter struct{ f *fixture }

func (w logWriter) Write(p []byte) (int, error) {
	w.f.logMu.Lock()
	defer w.f.logMu.Unlock()
	return w.f.logs.Write(p)
}

// logText returns what the handler has logged so far.
func (f *fixture) logText() string {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	return f.logs.String()
}

// reply is a response as the tests look at it.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the API over TCP.
func (f *fixture) do(method, path, body string) reply {
	f.t.Helper()
	return f.doHeader(method, path, body, nil)
}

// doHeader is do with request header fields; "Host" sets the Host.
func (f *fixture) doHeader(method, path, body string, header map[string][]string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, vs := range header {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v: %s", err, want)
	}
	return reflect.DeepEqual(g, w)
}

func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

const stickyZero = `{"hit":0,"hit/draining":0,"new/no_cookie":0,"new/invalid_cookie":0,"new/expired":0,
	"reassigned/server_down":0,"reassigned/server_unavailable":0,"reassigned/server_unhealthy":0,
	"reassigned/server_failed":0,"reassigned/server_removed":0,"reassigned/server_full":0}`

// backendStatus is the status of the fixture's "backend" upstream at
// t0+5s, as GET /9/http/upstreams/backend answers it.
var backendStatus = `{
  "peers": [
    {"id":0,"server":"10.0.0.1:80","name":"app-01.internal:80","backup":false,"weight":5,"state":"up",
     "active":1,"requests":2,"responses":{"1xx":0,"2xx":1,"3xx":1,"4xx":0,"5xx":0,"total":2},
     "sent":0,"received":0,"fails":0,"unavail":0,"health_checks":{"checks":0,"fails":0,"unhealthy":0},
     "downtime":0,"selected":"2026-11-26T19:40:01.512Z",
     "limpet":{"id":"` + upstream.IDFor("10.0.0.1:80", "") + `","drain":false,"draining_pinned":{"requests":1,"requests_per_second":0,"last_seen":"2026-11-26T19:40:01.512Z"}}},
    {"id":1,"server":"10.0.0.2:8080","name":"10.0.0.2:8080","backup":false,"weight":1,"state":"unavail",
     "active":0,"requests":1,"responses":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"total":0},
     "sent":0,"received":0,"fails":2,"unavail":1,"health_checks":{"checks":0,"fails":0,"unhealthy":0},
     "downtime":5000,"downstart":"2026-11-26T19:40:01.512Z",
     "limpet":{"id":"b","drain":false,"draining_pinned":{"requests":0,"requests_per_second":0}}},
    {"id":2,"server":"[2001:db8::3]:80","name":"[2001:db8::3]","backup":true,"weight":1,"state":"unhealthy",
     "active":0,"requests":0,"responses":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"total":0},
     "sent":0,"received":0,"fails":0,"unavail":0,"health_checks":{"checks":1,"fails":1,"unhealthy":1,"last_passed":false},
     "downtime":5000,"downstart":"2026-11-26T19:40:01.512Z",
     "limpet":{"id":"` + upstream.IDFor("[2001:db8::3]:80", "") + `","drain":false,"draining_pinned":{"requests":0,"requests_per_second":0}}}
  ],
  "keepalive":0,"zombies":0,"zone":"backend",
  "limpet":{"sticky":` + stickyZero + `}
}`

const backendServers = `[
  {"id":0,"server":"10.0.0.1:80","weight":5,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":false,"down":false},
  {"id":1,"server":"10.0.0.2:8080","weight":1,"max_conns":0,"max_fails":2,"fail_timeout":"30s","slow_start":"20s","route":"b","backup":false,"down":false},
  {"id":2,"server":"[2001:db8::3]:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":true,"down":false}
]`

func TestRead(t *testing.T) {
	staticStatus := `{"peers":[{"id":0,"server":"10.0.1.1:80","name":"10.0.1.1:80","backup":false,"weight":1,"state":"up",
		"active":0,"requests":0,"responses":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"total":0},
		"sent":0,"received":0,"fails":0,"unavail":0,"health_checks":{"checks":0,"fails":0,"unhealthy":0},"downtime":0,
		"limpet":{"id":"` + upstream.IDFor("10.0.1.1:80", "") + `","drain":false,"draining_pinned":{"requests":0,"requests_per_second":0}}}],
		"keepalive":0,"zombies":0,"zone":"static","limpet":{"sticky":` + stickyZero + `}}`
	tests := []struct {
		method, path string
		want         string
	}{
		{"GET", "/", `[1,2,3,4,5,6,7,8,9]`},
		{"GET", "", `[1,2,3,4,5,6,7,8,9]`},
		{"GET", "/9/", `["http"]`},
		{"GET", "/9", `["http"]`},
		{"GET", "/8/", `["http"]`},
		{"GET", "/9/http/", `["upstreams"]`},
		{"GET", "/9/http", `["upstreams"]`},
		{"GET", "/9/http/upstreams", `{"static":` + staticStatus + `,"backend":` + backendStatus + `}`},
		{"GET", "/9/http/upstreams/", `{"static":` + staticStatus + `,"backend":` + backendStatus + `}`},
		{"GET", "/9/http/upstreams/backend", backendStatus},
		{"GET", "/9/http/upstreams/backend/", backendStatus},
		{"GET", "/9/http/upstreams/backend/servers", backendServers},
		{"GET", "/9/http/upstreams/backend/servers/", backendServers},
		{"GET", "/9/http/upstreams/backend/servers/1",
			`{"id":1,"server":"10.0.0.2:8080","weight":1,"max_conns":0,"max_fails":2,"fail_timeout":"30s","slow_start":"20s","route":"b","backup":false,"down":false}`},
		{"GET", "/9/http/upstreams/backend/servers/2/",
			`{"id":2,"server":"[2001:db8::3]:80","weight":1,"max_conns":0,"max_fails":1,"fail_timeout":"10s","slow_start":"0s","route":"","backup":true,"down":false}`},
	}
	f := newFixture(t, false)
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := f.do(tt.method, tt.path, "")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !jsonEqual(t, r.body, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", indent(r.body), indent([]byte(tt.want)))
			}
		})
	}

	t.Run("upstreams in configuration order", func(t *testing.T) {
		body := string(f.do("GET", "/9/http/upstreams", "").body)
		if i, j := strings.Index(body, `"static":`), strings.Index(body, `"backend":`); i != 1 || j < i {
			t.Errorf("order: static at %d, backend at %d", i, j)
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		if r := f.do("HEAD", "/9/http/upstreams/backend", ""); r.status != 200 || len(r.body) != 0 {
			t.Errorf("HEAD: %d %q", r.status, r.body)
		}
	})
}

var requestIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkError checks an NGINX Plus error object.
func checkError(t *testing.T, r reply, status int, code, text string) {
	t.Helper()
	var e struct {
		Error struct {
			Status int
			Text   string
			Code   string
		}
		RequestID string `json:"request_id"`
		Href      string
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %s", r.body)
	}
	if r.status != status || e.Error.Status != status || e.Error.Code != code || e.Error.Text != text {
		t.Errorf("got %d {status %d, code %q, text %q}\nwant %d {code %q, text %q}", r.status, e.Error.Status, e.Error.Code, e.Error.Text, status, code, text)
	}
	if !requestIDRe.MatchString(e.RequestID) || e.Href != "https://nginx.org/en/docs/http/ngx_http_api_module.html" {
		t.Errorf("request_id %q, href %q", e.RequestID, e.Href)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// state is everything a write could change: every upstream's servers'
// configuration, the pools and their removed IDs.
func (f *fixture) state() string {
	var b strings.Builder
	for _, name := range f.ups.names {
		u := f.ups.m[name]
		u.View(func(all []*upstream.Server) {
			v, _ := json.Marshal(confs(all))
			b.Write(v)
		})
		p := u.Pool()
		b.WriteString(strings.Repeat("P", len(p.Primary)) + strings.Repeat("B", len(p.Backup)))
		v, _ := json.Marshal(p.Removed)
		b.Write(v)
	}
	return b.String()
}

func TestErrors(t *testing.T) {
	const srv = "/9/http/upstreams/backend/servers"
	tests := []struct {
		name               string
		readOnly           bool
		method, path, body string
		status             int
		code, text         string
		allow              string // the Allow header of a 405 MethodNotSupported
	}{
		{"unknown version", false, "GET", "/10/", "", 404, "UnknownVersion", "unknown version", ""},
		{"version 0", false, "GET", "/0/http/upstreams", "", 404, "UnknownVersion", "unknown version", ""},
		{"version not a number", false, "GET", "/v9/http/", "", 404, "UnknownVersion", "unknown version", ""},
		{"version with a leading zero", false, "GET", "/09/", "", 404, "UnknownVersion", "unknown version", ""},
		{"stream is not served", false, "GET", "/9/stream/upstreams", "", 404, "PathNotFound", "path not found", ""},
		{"nginx is not served", false, "GET", "/9/nginx", "", 404, "PathNotFound", "path not found", ""},
		{"http caches", false, "GET", "/9/http/caches", "", 404, "PathNotFound", "path not found", ""},
		{"below an upstream", false, "GET", "/9/http/upstreams/backend/peers", "", 404, "PathNotFound", "path not found", ""},
		{"below a server", false, "GET", srv + "/0/health", "", 404, "PathNotFound", "path not found", ""},
		{"empty segment", false, "GET", "/9//http/", "", 404, "PathNotFound", "path not found", ""},
		{"unknown upstream", false, "GET", "/9/http/upstreams/nope", "", 404, "UpstreamNotFound", "upstream not found", ""},
		{"unknown upstream's servers", false, "GET", "/9/http/upstreams/nope/servers", "", 404, "UpstreamNotFound", "upstream not found", ""},
		{"unknown upstream's server", false, "DELETE", "/9/http/upstreams/nope/servers/0", "", 404, "UpstreamNotFound", "upstream not found", ""},
		{"POST to a list", false, "POST", "/9/http/upstreams", `{}`, 405, "MethodNotSupported", "method not supported", "GET"},
		{"PUT a server", false, "PUT", srv + "/0", `{}`, 405, "MethodNotSupported", "method not supported", "DELETE, GET, PATCH"},
		{"DELETE an upstream's statistics", false, "DELETE", "/9/http/upstreams/backend", "", 405, "MethodNotSupported", "method not supported", "GET"},
		{"PATCH the servers list", false, "PATCH", srv, `{}`, 405, "MethodNotSupported", "method not supported", "GET, POST"},
		{"POST to the root", false, "POST", "/", `{}`, 405, "MethodNotSupported", "method not supported", "GET"},
		{"POST without write=on", true, "POST", srv, `{"server":"10.0.0.9:80"}`, 405, "MethodDisabled", "method disabled", ""},
		{"PATCH without write=on", true, "PATCH", srv + "/0", `{"weight":2}`, 405, "MethodDisabled", "method disabled", ""},
		{"DELETE without write=on", true, "DELETE", srv + "/0", "", 405, "MethodDisabled", "method disabled", ""},
		{"server ID not a number", false, "GET", srv + "/abc", "", 400, "UpstreamBadServerId", "invalid server ID", ""},
		{"negative server ID", false, "PATCH", srv + "/-1", `{"down":true}`, 400, "UpstreamBadServerId", "invalid server ID", ""},
		{"server ID with a sign", false, "DELETE", srv + "/+1", "", 400, "UpstreamBadServerId", "invalid server ID", ""},
		{"unknown server", false, "GET", srv + "/99", "", 404, "UpstreamServerNotFound", `server with ID "99" does not exist`, ""},
		{"PATCH an unknown server", false, "PATCH", srv + "/99", `{"weight":2}`, 404, "UpstreamServerNotFound", `server with ID "99" does not exist`, ""},
		{"DELETE an unknown server", false, "DELETE", srv + "/7", "", 404, "UpstreamServerNotFound", `server with ID "7" does not exist`, ""},
		{"malformed JSON", false, "POST", srv, `{"server":`, 415, "JsonError", "JSON error", ""},
		{"empty body", false, "POST", srv, ``, 415, "JsonError", "JSON error", ""},
		{"not an object", false, "POST", srv, `["10.0.0.9:80"]`, 415, "JsonError", "JSON error", ""},
		{"trailing data", false, "POST", srv, `{"server":"10.0.0.9:80"} {}`, 415, "JsonError", "JSON error", ""},
		{"malformed JSON in PATCH", false, "PATCH", srv + "/0", `{"weight":2,}`, 415, "JsonError", "JSON error", ""},
		{"body too large", false, "POST", srv, `{"server":"` + strings.Repeat("a", 70<<10) + `"}`, 400, "BodyReadError", "reading request body failed", ""},
		{"missing server", false, "POST", srv, `{"weight":2}`, 400, "UpstreamConfFormatError", `missing "server" argument`, ""},
		{"unknown parameter", false, "POST", srv, `{"server":"10.0.0.9:80","color":"blue"}`, 400, "UpstreamConfFormatError", `unknown parameter "color"`, ""},
		{"nested object", false, "POST", srv, `{"server":{"host":"10.0.0.9"}}`, 400, "UpstreamConfFormatError", "nested object or list", ""},
		{"nested list", false, "PATCH", srv + "/0", `{"weight":[2]}`, 400, "UpstreamConfFormatError", "nested object or list", ""},
		{"weight as a string", false, "POST", srv, `{"server":"10.0.0.9:80","weight":"2"}`, 400, "UpstreamConfFormatError", `invalid "weight" value`, ""},
		{"weight not an integer", false, "PATCH", srv + "/0", `{"weight":2.5}`, 400, "UpstreamConfFormatError", `invalid "weight" value`, ""},
		{"server as a number", false, "POST", srv, `{"server":10}`, 400, "UpstreamConfFormatError", `invalid "server" value`, ""},
		{"down as a string", false, "PATCH", srv + "/0", `{"down":"true"}`, 400, "UpstreamConfFormatError", `invalid "down" value`, ""},
		{"id in POST", false, "POST", srv, `{"server":"10.0.0.9:80","id":5}`, 400, "UpstreamConfFormatError", `invalid "id" value`, ""},
		{"zero weight", false, "POST", srv, `{"server":"10.0.0.9:80","weight":0}`, 400, "UpstreamBadWeight", `invalid "weight"`, ""},
		{"negative weight", false, "PATCH", srv + "/0", `{"weight":-3}`, 400, "UpstreamBadWeight", `invalid "weight"`, ""},
		{"negative max_fails", false, "POST", srv, `{"server":"10.0.0.9:80","max_fails":-1}`, 400, "UpstreamBadMaxFails", `invalid "max_fails"`, ""},
		{"negative max_conns", false, "POST", srv, `{"server":"10.0.0.9:80","max_conns":-1}`, 400, "UpstreamBadMaxConns", `invalid "max_conns"`, ""},
		{"fail_timeout in ms", false, "POST", srv, `{"server":"10.0.0.9:80","fail_timeout":"500ms"}`, 400, "UpstreamBadFailTimeout", `invalid "fail_timeout"`, ""},
		{"fail_timeout garbage", false, "POST", srv, `{"server":"10.0.0.9:80","fail_timeout":"soon"}`, 400, "UpstreamBadFailTimeout", `invalid "fail_timeout"`, ""},
		{"slow_start units out of order", false, "POST", srv, `{"server":"10.0.0.9:80","slow_start":"30s1m"}`, 400, "UpstreamBadSlowStart", `invalid "slow_start"`, ""},
		{"route with a semicolon", false, "POST", srv, `{"server":"10.0.0.9:80","route":"a;b"}`, 400, "UpstreamBadRoute", `invalid "route"`, ""},
		{"route too long", false, "POST", srv, `{"server":"10.0.0.9:80","route":"` + strings.Repeat("r", 256) + `"}`, 400, "UpstreamBadRoute", "route is too long", ""},
		{"service", false, "POST", srv, `{"server":"app.internal","service":"http"}`, 400, "UpstreamBadService", `invalid "service": limpet does not resolve SRV records`, ""},
		{"bad port", false, "POST", srv, `{"server":"10.0.0.9:99999"}`, 400, "UpstreamBadAddress", `invalid port in upstream "10.0.0.9:99999"`, ""},
		{"no host", false, "POST", srv, `{"server":":80"}`, 400, "UpstreamBadAddress", `no host in upstream ":80"`, ""},
		{"bad IPv6", false, "POST", srv, `{"server":"[10.0.0.9]:80"}`, 400, "UpstreamBadAddress", `invalid IPv6 address in upstream "[10.0.0.9]:80"`, ""},
		{"unix socket without a path", false, "POST", srv, `{"server":"unix:"}`, 400, "UpstreamBadAddress", `no path in the unix domain socket in upstream "unix:"`, ""},
		{"unix socket with too long a path", false, "POST", srv, `{"server":"unix:/` + strings.Repeat("p", 107) + `"}`, 400, "UpstreamBadAddress", `too long path in the unix domain socket in upstream "unix:/` + strings.Repeat("p", 107) + `"`, ""},
		{"unknown host", false, "POST", srv, `{"server":"nowhere.internal:8080"}`, 400, "UpstreamBadAddress", `host not found in upstream "nowhere.internal:8080"`, ""},
		{"duplicate address", false, "POST", srv, `{"server":"10.0.0.1"}`, 409, "EntryExists", "entry exists", ""},
		{"duplicate route", false, "POST", srv, `{"server":"10.0.0.9:80","route":"b"}`, 409, "EntryExists", "entry exists", ""},
		{"one address of a name exists", false, "POST", srv, `{"server":"overlap.internal:80"}`, 409, "EntryExists", "entry exists", ""},
		{"a route for several addresses", false, "POST", srv, `{"server":"app.internal","route":"r"}`, 409, "EntryExists", "entry exists", ""},
		{"change backup", false, "PATCH", srv + "/0", `{"backup":true}`, 400, "UpstreamServerImmutable", `server "0" backup is immutable`, ""},
		{"change the address", false, "PATCH", srv + "/0", `{"server":"10.0.0.99:80"}`, 400, "UpstreamServerImmutable", `server "0" address is immutable`, ""},
		{"change the route", false, "PATCH", srv + "/1", `{"route":"c"}`, 400, "UpstreamServerImmutable", `server "1" route is immutable`, ""},
		{"change max_fails", false, "PATCH", srv + "/1", `{"max_fails":3}`, 400, "UpstreamServerImmutable", `server "1" max_fails is immutable`, ""},
		{"change max_conns", false, "PATCH", srv + "/1", `{"max_conns":3}`, 400, "UpstreamServerImmutable", `server "1" max_conns is immutable`, ""},
		{"change fail_timeout", false, "PATCH", srv + "/1", `{"fail_timeout":"1m"}`, 400, "UpstreamServerImmutable", `server "1" fail_timeout is immutable`, ""},
		{"change slow_start", false, "PATCH", srv + "/1", `{"slow_start":"0s"}`, 400, "UpstreamServerImmutable", `server "1" slow_start is immutable`, ""},
		{"change the id", false, "PATCH", srv + "/1", `{"id":2}`, 400, "UpstreamServerImmutable", `server "1" id is immutable`, ""},
		{"weight with an immutable change", false, "PATCH", srv + "/0", `{"weight":9,"down":true,"drain":true,"max_fails":7}`, 400, "UpstreamServerImmutable", `server "0" max_fails is immutable`, ""},
		{"weight with an invalid value", false, "PATCH", srv + "/0", `{"weight":9,"down":true,"max_fails":-1}`, 400, "UpstreamBadMaxFails", `invalid "max_fails"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, !tt.readOnly)
			before := f.state()
			r := f.do(tt.method, tt.path, tt.body)
			checkError(t, r, tt.status, tt.code, tt.text)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
			if after := f.state(); after != before {
				t.Errorf("a rejected request changed the upstreams:\nbefore %s\nafter  %s", before, after)
			}
			if f.a.Down() || f.a.Draining() || f.a.Weight != 5 {
				t.Errorf("server 0 changed: down %v, draining %v, weight %d", f.a.Down(), f.a.Draining(), f.a.Weight)
			}
			if logs := f.logText(); logs != "" {
				t.Errorf("a rejected request logged a change: %s", logs)
			}
		})
	}
}
