package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/access"
	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// recordingTransport answers like h1's transport, through
// RoundTripForward, with a 200 whose X-Path and X-Server say what it was
// asked; it refuses to connect to the address in refuse, and records the
// Forward.Now of every attempt.
type recordingTransport struct {
	refuse string
	mu     sync.Mutex
	nows   []time.Time
	fields [][]h1.Field // each attempt's proxy_set_header fields
	omit   [][]string   // and the client's fields left out
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.RoundTripForward(r.Context(), r, &h1.Forward{})
}

func (t *recordingTransport) RoundTripForward(_ context.Context, r *http.Request, fwd *h1.Forward) (*http.Response, error) {
	t.mu.Lock()
	t.nows = append(t.nows, fwd.Now)
	t.fields = append(t.fields, slices.Clone(fwd.Fields))
	t.omit = append(t.omit, slices.Clone(fwd.Omit))
	t.mu.Unlock()
	if r.URL.Host == t.refuse {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connection refused")}
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Length": {"2"}, "X-Path": {r.URL.Path}, "X-Server": {r.URL.Host}},
		ContentLength: 2, Body: io.NopCloser(strings.NewReader("ok")), Request: r,
	}, nil
}

// startWriter is a ResponseWriter that knows its request's start, as
// h1srv's does.
type startWriter struct {
	benchWriter
	start time.Time
}

func (w *startWriter) RequestStart() time.Time { return w.start }

// countingClock advances by a millisecond at every reading, and counts
// them.
type countingClock struct {
	base time.Time
	n    atomic.Int64
}

func (c *countingClock) now() time.Time {
	return c.base.Add(time.Duration(c.n.Add(1)) * time.Millisecond)
}

// observed records what the Observer was told.
type observed struct {
	mu   sync.Mutex
	took []time.Duration
}

func (o *observed) ObserveRequest(_ *live.Upstream, _ *upstream.Server, _ int, took time.Duration, _ sticky.Decision, _ int) {
	o.mu.Lock()
	o.took = append(o.took, took)
	o.mu.Unlock()
}

// lockedBuffer is a bytes.Buffer safe for the access log's writer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testProxy is a handler proxying to two servers (a sticky cookie
// upstream) through tr, logging with format to a buffer; location is
// added to the proxying location, more to the server.
type testProxy struct {
	h       *Handler
	servers []*upstream.Server
	log     *accesslog.Logger
	out     *lockedBuffer
}

func newTestProxy(t *testing.T, format, location, more string, tr http.RoundTripper, now func() time.Time, obs Observer) *testProxy {
	t.Helper()
	cfg, err := config.LoadBytes("/test/limpet.conf", []byte(`
log_format t '`+format+`';
upstream backend { server 127.0.0.1:9001; server 127.0.0.1:9002; sticky cookie SERVERID expires=1h path=/; }
server { listen 127.0.0.1:8080; server_name lb; access_log /dev/null t;
    location / { proxy_pass http://backend; `+location+` } `+more+` }`),
		config.Options{LookupHost: func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	cu := cfg.Upstreams[0]
	var servers []*upstream.Server
	for _, cs := range cu.Servers {
		servers = append(servers, &upstream.Server{ID: upstream.IDFor(cs.Addr, ""), Name: cs.Name, Addr: cs.Addr, Weight: 1, FailTimeout: time.Second}) // max_fails=0: never out of rotation
	}
	up := live.New("backend", live.Policy{Sticky: sticky.NewCookie(cu.Sticky.Cookie)}, servers)
	out := &lockedBuffer{}
	logger := accesslog.NewBuffered(out, 0, 0)
	t.Cleanup(func() { _ = logger.Close() })
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, Timeouts) http.RoundTripper { return tr },
		AccessLog: func(config.AccessLog) (*accesslog.Logger, error) { return logger, nil },
		ErrorLog:  slog.New(slog.DiscardHandler),
		Now:       now,
		Observer:  obs,
		Access: func(a config.Access, le *config.LimitExcept) (Guard, error) {
			g, err := access.New(a, le)
			if err != nil || g == nil {
				return nil, err
			}
			return g, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testProxy{h: h, servers: servers, log: logger, out: out}
}

// lines returns the access log's lines so far.
func (p *testProxy) lines() []string {
	p.log.Flush()
	return strings.Split(strings.TrimSuffix(p.out.String(), "\n"), "\n")
}

func (p *testProxy) request(path string, server int) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://lb"+path, nil)
	req.RemoteAddr, req.RequestURI = "127.0.0.1:40000", path
	req.Header.Set("Cookie", "SERVERID="+p.servers[server].ID)
	return req
}

// The proxy reads its clock once for each moment of a request: its start,
// the upstream's response header, and the end of the response; every
// value taken at one of those moments is that reading. A failed attempt
// and the attempt after it are moments of their own.
func TestClockReadingsPerRequest(t *testing.T) {
	const format = "$request_time $upstream_header_time $upstream_response_time $upstream_status $msec"
	tests := []struct {
		name     string
		location string
		refuse   int // the server that refuses connections, -1: none
		readings int64
		line     string
		took     time.Duration // what the observer is told
	}{
		// start 1ms, header 2ms, end 3ms, which $msec shows.
		{"a sticky hit", "", -1, 3, "0.002 0.001 0.002 200 1767225600.003", 2 * time.Millisecond},
		// start 1ms = the first attempt's; it fails at 2ms, the server
		// is marked failed at 3ms; the second begins at 4ms, its
		// header 5ms, its end 6ms.
		{"a retry after a refused connection", "", 0, 6, "0.005 -, 0.001 0.001, 0.002 502, 200 1767225600.006", 5 * time.Millisecond},
		// Access checks (auth_basic's hashing) may take their time: the
		// exchange reads the clock again (2ms), header 3ms, end 4ms; the
		// observer counts from the exchange's start.
		{"after an access check", "allow all;", -1, 4, "0.003 0.001 0.002 200 1767225600.004", 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &countingClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			tr := &recordingTransport{}
			obs := &observed{}
			p := newTestProxy(t, format, tt.location, "", tr, clock.now, obs)
			if tt.refuse >= 0 {
				tr.refuse = p.servers[tt.refuse].Addr
			}
			w := &benchWriter{h: make(http.Header)}
			p.h.ServeHTTP(w, p.request("/", 0))
			if w.code != 200 {
				t.Fatalf("status %d", w.code)
			}
			if n := clock.n.Load(); n != tt.readings {
				t.Errorf("%d clock readings, want %d", n, tt.readings)
			}
			if got := p.lines(); len(got) != 1 || got[0] != tt.line {
				t.Errorf("log %q, want %q", got, tt.line)
			}
			if len(obs.took) != 1 || obs.took[0] != tt.took {
				t.Errorf("observer told %v, want [%v]", obs.took, tt.took)
			}
			for i, at := range tr.nows {
				if !at.IsZero() {
					t.Errorf("attempt %d: Forward.Now = %v with an injected clock, want zero (h1 reads its own)", i, at)
				}
			}
		})
	}
}

// With the real clock, a writer that knows its request's start (h1srv's)
// gives the start $request_time counts from; an injected clock ignores
// it. That start is when the request's first byte came, and its header
// may have taken longer: the first attempt starts at a reading of its
// own, which h1 is given in Forward.Now (with the real clock only).
func TestRequestStartFromWriter(t *testing.T) {
	started := time.Now().Add(-time.Hour)
	tests := []struct {
		name      string
		injected  bool
		fromStart bool // $request_time counts from the writer's start
	}{
		{"real clock", false, true},
		{"injected clock", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now func() time.Time
			if tt.injected {
				now = (&countingClock{base: time.Now()}).now
			}
			tr := &recordingTransport{}
			p := newTestProxy(t, "$request_time $upstream_response_time", "", "", tr, now, nil)
			w := &startWriter{benchWriter: benchWriter{h: make(http.Header)}, start: started}
			before := time.Now()
			p.h.ServeHTTP(w, p.request("/", 0))
			if w.code != 200 {
				t.Fatalf("status %d", w.code)
			}
			var secs, upstream float64
			if _, err := fmt.Sscan(p.lines()[0], &secs, &upstream); err != nil {
				t.Fatal(err)
			}
			if got := secs >= 3600; got != tt.fromStart {
				t.Errorf("$request_time %v: counted from the writer's start %v, want %v", secs, got, tt.fromStart)
			}
			if upstream >= 3600 {
				t.Errorf("$upstream_response_time %v counts from the request's first byte, not the attempt's start", upstream)
			}
			if len(tr.nows) != 1 {
				t.Fatalf("%d attempts, want 1", len(tr.nows))
			}
			switch at := tr.nows[0]; {
			case tt.injected && !at.IsZero():
				t.Errorf("Forward.Now = %v with an injected clock, want zero (h1 reads its own)", at)
			case !tt.injected && at.Before(before):
				t.Errorf("Forward.Now = %v, before the request was served (%v)", at, before)
			}
		})
	}
}

// The writer and the exchange a request leaves behind are used again by
// later ones (recycle.go): requests served at the same time, and one after
// a request that proxied twice (an error_page location proxying again,
// which chains its exchanges), each see only their own.
func TestRecycledRequestState(t *testing.T) {
	tr := &recordingTransport{}
	p := newTestProxy(t, "$request_uri $upstream_addr $upstream_status $sticky_reason $sent_http_x_path",
		"proxy_next_upstream off; proxy_intercept_errors on; error_page 502 = @again;",
		"location @again { proxy_pass http://backend; }", tr, nil, nil)
	a, b := p.servers[0].Addr, p.servers[1].Addr

	// The first server refuses: the request is answered by the second,
	// through @again, the chain listing both exchanges.
	tr.refuse = a
	chained := a + " : " + a + ", " + b
	for range 3 {
		w := &benchWriter{h: make(http.Header)}
		p.h.ServeHTTP(w, p.request("/chained", 0))
		if w.code != 200 {
			t.Fatalf("status %d", w.code)
		}
	}
	tr.refuse = ""

	const clients, each = 8, 50
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w := &benchWriter{h: make(http.Header)}
				path := fmt.Sprintf("/c%d/%d", c, i)
				p.h.ServeHTTP(w, p.request(path, c%2))
				if w.code != 200 || w.h.Get("X-Path") != path || w.h.Get("X-Server") != p.servers[c%2].Addr {
					t.Errorf("%s: status %d, X-Path %q, X-Server %q", path, w.code, w.h.Get("X-Path"), w.h.Get("X-Server"))
					return
				}
			}
		}()
	}
	wg.Wait()

	lines := p.lines()
	if len(lines) != 3+clients*each {
		t.Fatalf("%d log lines, want %d", len(lines), 3+clients*each)
	}
	for _, line := range lines[:3] {
		if want := "/chained " + chained + " 502 : 502, 200 reassigned/server_failed /chained"; line != want {
			t.Errorf("log %q, want %q", line, want)
		}
	}
	seen := make(map[string]bool)
	for _, line := range lines[3:] {
		var uri, addr, status, reason, sent string
		if _, err := fmt.Sscan(line, &uri, &addr, &status, &reason, &sent); err != nil {
			t.Fatalf("log %q: %v", line, err)
		}
		var c, i int
		if _, err := fmt.Sscanf(uri, "/c%d/%d", &c, &i); err != nil {
			t.Fatalf("log %q: %v", line, err)
		}
		if addr != p.servers[c%2].Addr || status != "200" || reason != "hit" || sent != uri || seen[uri] {
			t.Errorf("log %q: another request's state (or twice)", line)
		}
		seen[uri] = true
	}
}

// timeoutWriter is a ResponseWriter whose server bounds each write by a
// timeout of its own, as h1srv's does, and which counts the write
// deadlines the handler sets.
type timeoutWriter struct {
	benchWriter
	timeout   time.Duration
	inEffect  bool
	deadlines int
}

func (w *timeoutWriter) WriteTimeout() (time.Duration, bool) { return w.timeout, w.inEffect }

func (w *timeoutWriter) SetWriteDeadline(time.Time) error {
	w.deadlines++
	return nil
}

// TestSendTimeoutLeftToTheServer: the response's writes are bounded by
// send_timeout; when the server bounds each write by the same timeout
// already, the proxy sets no deadline of its own (a clock reading per
// response saved), and it does otherwise.
func TestSendTimeoutLeftToTheServer(t *testing.T) {
	tests := []struct {
		name      string
		location  string // the location's directives
		timeout   time.Duration
		inEffect  bool
		deadlines bool // the proxy sets a write deadline
	}{
		{"the server's, the same", "", 60 * time.Second, true, false},
		{"the server's, another", "", 30 * time.Second, true, true},
		{"the location's own", "send_timeout 10s;", 60 * time.Second, true, true},
		{"the location's, the same", "send_timeout 30s;", 30 * time.Second, true, false},
		{"the server's, replaced by the handler's", "", 60 * time.Second, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProxy(t, "$status", tt.location, "", &recordingTransport{}, nil, nil)
			w := &timeoutWriter{benchWriter: benchWriter{h: make(http.Header)}, timeout: tt.timeout, inEffect: tt.inEffect}
			p.h.ServeHTTP(w, p.request("/", 0))
			if w.code != 200 {
				t.Fatalf("status %d", w.code)
			}
			if got := w.deadlines > 0; got != tt.deadlines {
				t.Errorf("the proxy set %d write deadlines, want some: %v", w.deadlines, tt.deadlines)
			}
		})
	}
}

// wholeWriter is a startWriter whose request's header was whole, or not,
// as the server read the clock for its start.
type wholeWriter struct {
	startWriter
	whole bool
}

func (w *wholeWriter) RequestHeaderWhole() bool { return w.whole }

// TestAttemptStartsAtAWholeHeadersStart: when the server read the clock
// with the request's whole header in, nothing has waited on the client
// since, and the first attempt starts at that reading without one of its
// own; when the header came in later reads, the attempt reads the clock.
func TestAttemptStartsAtAWholeHeadersStart(t *testing.T) {
	for _, whole := range []bool{true, false} {
		tr := &recordingTransport{}
		p := newTestProxy(t, "$status", "", "", tr, nil, nil)
		started := time.Now().Add(-time.Minute)
		w := &wholeWriter{startWriter: startWriter{benchWriter: benchWriter{h: make(http.Header)}, start: started}, whole: whole}
		p.h.ServeHTTP(w, p.request("/", 0))
		if w.code != 200 || len(tr.nows) != 1 {
			t.Fatalf("whole %v: status %d, %d attempts", whole, w.code, len(tr.nows))
		}
		if got := tr.nows[0].Equal(started); got != whole {
			t.Errorf("whole %v: the attempt started at the server's reading: %v", whole, got)
		}
	}
}
