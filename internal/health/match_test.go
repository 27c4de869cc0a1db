package health

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// reply is what a test backend answers.
type reply struct {
	status int
	header map[string]string
	body   string
}

func (rp reply) serve(w http.ResponseWriter, _ *http.Request) {
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if rp.status == http.StatusFound {
		w.Header().Set("Location", "/elsewhere")
	}
	w.WriteHeader(rp.status)
	w.Write([]byte(rp.body))
}

func statusMatch(not bool, ranges ...config.StatusRange) config.StatusMatch {
	return config.StatusMatch{Not: not, Ranges: ranges}
}

func one(code int) config.StatusRange    { return config.StatusRange{Lo: code, Hi: code} }
func span(lo, hi int) config.StatusRange { return config.StatusRange{Lo: lo, Hi: hi} }

func header(name, op, value string) config.HeaderMatch {
	h := config.HeaderMatch{Name: name, Op: op, Value: value}
	if op == "~" || op == "!~" {
		h.Regexp = regexp.MustCompile(value)
	}
	return h
}

func body(not bool, re string) config.BodyMatch {
	return config.BodyMatch{Not: not, Regexp: regexp.MustCompile(re)}
}

// TestProbeMatch probes a real backend once per case and checks the
// verdict and the reason given for a failure.
func TestProbeMatch(t *testing.T) {
	welcome := &config.Match{Name: "welcome",
		Status:  []config.StatusMatch{statusMatch(false, one(200))},
		Headers: []config.HeaderMatch{header("Content-Type", "=", "text/html")},
		Bodies:  []config.BodyMatch{body(false, "Welcome to nginx!")},
	}
	matchOf := func(m config.Match) *config.Match { m.Name = "m"; return &m }
	big := strings.Repeat("x", maxBody) + "late marker"

	tests := []struct {
		name   string
		reply  reply
		match  *config.Match
		pass   bool
		reason string // the full reason of a failure
	}{
		{"default 200", reply{status: 200}, nil, true, ""},
		{"default 204", reply{status: 204}, nil, true, ""},
		{"default 302 not followed", reply{status: 302}, nil, true, ""},
		{"default 399", reply{status: 399}, nil, true, ""},
		{"default 404", reply{status: 404}, nil, false, "status 404 is not 2xx or 3xx"},
		{"default 500", reply{status: 500}, nil, false, "status 500 is not 2xx or 3xx"},

		{"status 200 ok", reply{status: 200}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, one(200))}}), true, ""},
		{"status 200 vs 201", reply{status: 201}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, one(200))}}), false,
			`status 201: fails "status 200" of match "m"`},
		{"status ! 500 vs 503", reply{status: 503}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(true, one(500))}}), true, ""},
		{"status ! 500 vs 500", reply{status: 500}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(true, one(500))}}), false,
			`status 500: fails "status ! 500" of match "m"`},
		{"status 200 204", reply{status: 204}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, one(200), one(204))}}), true, ""},
		{"status ! 301 302 vs 302", reply{status: 302}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(true, one(301), one(302))}}), false,
			`status 302: fails "status ! 301 302" of match "m"`},
		{"status 200-399 vs 399", reply{status: 399}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, span(200, 399))}}), true, ""},
		{"status 200-399 vs 400", reply{status: 400}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, span(200, 399))}}), false,
			`status 400: fails "status 200-399" of match "m"`},
		{"status ! 400-599 vs 404", reply{status: 404}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(true, span(400, 599))}}), false,
			`status 404: fails "status ! 400-599" of match "m"`},
		{"status 301-303 307 vs 307", reply{status: 307}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, span(301, 303), one(307))}}), true, ""},
		{"status 301-303 307 vs 304", reply{status: 304}, matchOf(config.Match{Status: []config.StatusMatch{statusMatch(false, span(301, 303), one(307))}}), false,
			`status 304: fails "status 301-303 307" of match "m"`},
		{"two status lines, both must hold", reply{status: 204}, matchOf(config.Match{Status: []config.StatusMatch{
			statusMatch(false, span(200, 299)), statusMatch(true, one(204))}}), false,
			`status 204: fails "status ! 204" of match "m"`},
		{"no status line accepts any status", reply{status: 500, body: "up"}, matchOf(config.Match{Bodies: []config.BodyMatch{body(false, "up")}}), true, ""},

		{"header = ok", reply{status: 200, header: map[string]string{"Content-Type": "text/html"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("Content-Type", "=", "text/html")}}), true, ""},
		{"header = other value", reply{status: 200, header: map[string]string{"Content-Type": "text/plain"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("Content-Type", "=", "text/html")}}), false,
			`status 200: fails "header Content-Type = text/html" of match "m" (Content-Type: "text/plain")`},
		{"header = absent", reply{status: 200},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "=", "on")}}), false,
			`status 200: fails "header X-Mode = on" of match "m" (X-Mode: absent)`},
		{"header != other value", reply{status: 200, header: map[string]string{"X-Mode": "on"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "!=", "maintenance")}}), true, ""},
		{"header != same value", reply{status: 200, header: map[string]string{"X-Mode": "maintenance"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "!=", "maintenance")}}), false,
			`status 200: fails "header X-Mode != maintenance" of match "m" (X-Mode: "maintenance")`},
		{"header != absent", reply{status: 200},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "!=", "maintenance")}}), false,
			`status 200: fails "header X-Mode != maintenance" of match "m" (X-Mode: absent)`},
		{"header ~ matches", reply{status: 200, header: map[string]string{"X-Mode": "keep-alive, close"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("x-mode", "~", "close")}}), true, ""},
		{"header ~ no match", reply{status: 200, header: map[string]string{"X-Mode": "keep-alive"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "~", "^clo")}}), false,
			`status 200: fails "header X-Mode ~ ^clo" of match "m" (X-Mode: "keep-alive")`},
		{"header !~ no match", reply{status: 200, header: map[string]string{"X-Mode": "keep-alive"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "!~", "close")}}), true, ""},
		{"header !~ matches", reply{status: 200, header: map[string]string{"X-Mode": "close"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Mode", "!~", "close")}}), false,
			`status 200: fails "header X-Mode !~ close" of match "m" (X-Mode: "close")`},
		{"header present", reply{status: 200, header: map[string]string{"X-Ready": ""}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Ready", "", "")}}), true, ""},
		{"header present but absent", reply{status: 200},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Ready", "", "")}}), false,
			`status 200: fails "header X-Ready" of match "m" (X-Ready: absent)`},
		{"header absent", reply{status: 200},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Accel-Redirect", "!", "")}}), true, ""},
		{"header absent but present", reply{status: 200, header: map[string]string{"X-Accel-Redirect": "/x"}},
			matchOf(config.Match{Headers: []config.HeaderMatch{header("X-Accel-Redirect", "!", "")}}), false,
			`status 200: fails "header ! X-Accel-Redirect" of match "m" (X-Accel-Redirect: "/x")`},

		{"body ~ matches", reply{status: 200, body: "<h1>Welcome to nginx!</h1>"},
			matchOf(config.Match{Bodies: []config.BodyMatch{body(false, "Welcome to nginx!")}}), true, ""},
		{"body ~ no match", reply{status: 200, body: "hello"},
			matchOf(config.Match{Bodies: []config.BodyMatch{body(false, "Welcome")}}), false,
			`status 200: fails "body ~ \"Welcome\"" of match "m"`},
		{"body !~ no match", reply{status: 200, body: "all good"},
			matchOf(config.Match{Bodies: []config.BodyMatch{body(true, "maintenance mode")}}), true, ""},
		{"body !~ matches", reply{status: 200, body: "in maintenance mode"},
			matchOf(config.Match{Bodies: []config.BodyMatch{body(true, "maintenance mode")}}), false,
			`status 200: fails "body !~ \"maintenance mode\"" of match "m"`},
		{"body beyond 256k is not examined", reply{status: 200, body: big},
			matchOf(config.Match{Bodies: []config.BodyMatch{body(false, "late marker")}}), false,
			`status 200: fails "body ~ \"late marker\"" of match "m"`},

		{"every condition holds", reply{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "Welcome to nginx!"}, welcome, true, ""},
		{"one condition fails", reply{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "It works"}, welcome, false,
			`status 200: fails "body ~ \"Welcome to nginx!\"" of match "welcome"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			_, s := backend(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				tt.reply.serve(w, r)
			})
			c := New([]Check{{
				Upstream: newUpstream("backend", s),
				Config:   &config.HealthCheck{Match: tt.match},
			}}, nil)
			defer c.Close()
			pass, reason := c.checks[0].probe(context.Background(), s)
			if pass != tt.pass || reason != tt.reason {
				t.Errorf("probe = %v, %q; want %v, %q", pass, reason, tt.pass, tt.reason)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("backend got %d requests, want 1 (redirects are not followed)", n)
			}
		})
	}
}

// TestProbeRequest checks what a probe sends: GET of the uri over
// HTTP/1.1, the Host header, no compression asked.
func TestProbeRequest(t *testing.T) {
	tests := []struct {
		name, host, uri       string
		wantHost, wantRequest string
	}{
		{"defaults", "", "", "backend", "/"},
		{"static host and uri with query", "app.example.com", "/healthz?deep=1", "app.example.com", "/healthz?deep=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan *http.Request, 1)
			_, s := backend(t, func(w http.ResponseWriter, r *http.Request) { got <- r.Clone(context.Background()) })
			c := New([]Check{{
				Upstream: newUpstream("backend", s),
				Config:   &config.HealthCheck{URI: tt.uri},
				Host:     tt.host,
			}}, nil)
			defer c.Close()
			if pass, reason := c.checks[0].probe(context.Background(), s); !pass {
				t.Fatalf("probe failed: %s", reason)
			}
			r := <-got
			if r.Method != http.MethodGet || r.Proto != "HTTP/1.1" {
				t.Errorf("request %s %s, want GET HTTP/1.1", r.Method, r.Proto)
			}
			if r.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", r.Host, tt.wantHost)
			}
			if r.RequestURI != tt.wantRequest {
				t.Errorf("request URI = %q, want %q", r.RequestURI, tt.wantRequest)
			}
			if ae := r.Header.Get("Accept-Encoding"); ae != "" {
				t.Errorf("Accept-Encoding = %q, want none", ae)
			}
		})
	}
}

// TestProbePort checks that port= sends the probe to the server's IP on
// another port.
func TestProbePort(t *testing.T) {
	ts, _ := backend(t, reply{status: 200}.serve)
	s := newServer(deadAddr(t)) // the server's own port answers nothing
	c := New([]Check{{
		Upstream: newUpstream("backend", s),
		Config:   &config.HealthCheck{Port: tcpPort(t, ts.Listener.Addr().String())},
	}}, nil)
	defer c.Close()
	if pass, reason := c.checks[0].probe(context.Background(), s); !pass {
		t.Fatalf("probe with port= failed: %s", reason)
	}

	plain := New([]Check{{Upstream: newUpstream("backend", s), Config: &config.HealthCheck{}}}, nil)
	defer plain.Close()
	if pass, reason := plain.checks[0].probe(context.Background(), s); pass || !strings.Contains(reason, "connection refused") {
		t.Errorf("probe without port= = %v, %q; want a refused connection", pass, reason)
	}
}

// tcpPort returns the port of addr ("ip:port").
func tcpPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProbeTimeout checks that a server which never answers fails the
// probe once the read timeout has passed.
func TestProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	ts, s := backend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer ts.Close()
	defer close(release) // before ts.Close, which waits for the handler
	c := New([]Check{{
		Upstream:       newUpstream("backend", s),
		Config:         &config.HealthCheck{},
		ConnectTimeout: time.Second,
		ReadTimeout:    50 * time.Millisecond,
	}}, nil)
	defer c.Close()
	start := time.Now()
	pass, reason := c.checks[0].probe(context.Background(), s)
	if pass || !strings.Contains(reason, "timeout awaiting response headers") {
		t.Errorf("probe = %v, %q; want a timeout", pass, reason)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("probe took %v, want about the read timeout", took)
	}
}
