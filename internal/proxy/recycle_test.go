package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/accesslog"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1srv"
	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// echoBackend is an upstream on loopback whose responses tell which
// request they answer, in fields of names and values of that request's
// own: the request for /ok/N, /head/N (HEAD, answered without a
// Content-Length) and /retry/N gets X-Req: N, X-Only-N, and for an even N
// Set-Cookie: s=N; with bad set, /retry/N gets a 502 of other fields
// instead (X-Req: bad-N, Set-Cookie: bad=N), which proxy_next_upstream
// sends on to the other server.
func echoBackend(t *testing.T, bad bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, err := io.WriteString(c, echoResponse(req, bad)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func echoResponse(req *http.Request, bad bool) string {
	kind, n, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	var b strings.Builder
	if kind == "retry" && bad {
		fmt.Fprintf(&b, "HTTP/1.1 502 Bad Gateway\r\nX-Req: bad-%s\r\nX-Bad-%s: 1\r\nSet-Cookie: bad=%s\r\nContent-Length: 3\r\n\r\nbad", n, n, n)
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nX-Req: %s\r\nX-Only-%s: 1\r\n", n, n)
	if n[len(n)-1]%2 == 0 {
		fmt.Fprintf(&b, "Set-Cookie: s=%s\r\n", n)
	}
	if kind == "head" {
		b.WriteString("\r\n") // no Content-Length: the framing is the client server's to choose
		return b.String()
	}
	body := "body-" + n
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// TestRecycledResponseStorage: through h1srv, the proxy and h1's
// transport, all real and on loopback, requests on several keep-alive
// connections at once, a share of them retried after a 502 and some
// answered by a header h1srv writes only once the handler has returned:
// no response shows a field of another's (the client's header, the
// persistence cookie beside the application's, $upstream_http_* in the
// log), though the exchanges, and the upstream responses' storage with
// them, go from one request to the next.
func TestRecycledResponseStorage(t *testing.T) {
	good, bad := echoBackend(t, false), echoBackend(t, true)
	cfg, err := config.LoadBytes("/test/limpet.conf", []byte(`
log_format t '$request_uri|$upstream_http_x_req|$upstream_http_set_cookie|$upstream_status';
upstream backend { server `+bad+`; server `+good+`; }
server { listen 127.0.0.1:8080; server_name lb; access_log /dev/null t;
    location / { proxy_pass http://backend; proxy_next_upstream error http_502; } }`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var servers []*upstream.Server
	for _, addr := range []string{bad, good} {
		servers = append(servers, &upstream.Server{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: 1, FailTimeout: time.Second})
	}
	up := live.New("backend", live.Policy{}, servers)
	tr := NewTransport(Timeouts{Connect: 10 * time.Second, Read: 10 * time.Second, Send: 10 * time.Second}, 0)
	t.Cleanup(tr.CloseIdleConnections)
	out := &lockedBuffer{}
	logger := accesslog.NewBuffered(out, 0, 0)
	t.Cleanup(func() { _ = logger.Close() })
	h, err := NewHandler(cfg.Servers, -1, &Env{
		Upstream:  func(*config.ProxyPass) *live.Upstream { return up },
		Transport: func(*live.Upstream, Timeouts) http.RoundTripper { return tr },
		AccessLog: func(config.AccessLog) (*accesslog.Logger, error) { return logger, nil },
		ErrorLog:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := &h1srv.Server{Settings: h1srv.Settings{Handler: h}}
	served := make(chan error, 1)
	go func() { served <- front.Serve(ln) }()
	t.Cleanup(func() {
		_ = front.Close()
		<-served
	})

	const clients, perClient = 4, 60
	client := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	t.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				n := fmt.Sprint(c*1000 + i)
				kind, method := "ok", http.MethodGet
				switch i % 4 {
				case 1:
					kind = "retry"
				case 3:
					kind, method = "head", http.MethodHead
				}
				req, err := http.NewRequestWithContext(ctx, method, "http://"+ln.Addr().String()+"/"+kind+"/"+n, nil)
				if err != nil {
					t.Error(err)
					return
				}
				req.Host = "lb"
				res, err := client.RoundTrip(req)
				if err != nil {
					t.Errorf("%s %s: %v", method, req.URL.Path, err)
					return
				}
				body, err := io.ReadAll(res.Body)
				_ = res.Body.Close()
				if err != nil {
					t.Errorf("%s: body: %v", req.URL.Path, err)
					return
				}
				if problem := checkEcho(res, string(body), kind, n); problem != "" {
					t.Errorf("%s %s: %s (header %v)", method, req.URL.Path, problem, res.Header)
				}
			}
		}()
	}
	wg.Wait()

	logger.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != clients*perClient {
		t.Fatalf("%d log lines, want %d", len(lines), clients*perClient)
	}
	for _, line := range lines {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			t.Errorf("log line %q", line)
			continue
		}
		_, n, _ := strings.Cut(strings.TrimPrefix(f[0], "/"), "/")
		cookie := "-"
		if n[len(n)-1]%2 == 0 {
			cookie = "s=" + n
		}
		if f[1] != n || f[2] != cookie {
			t.Errorf("log line %q: $upstream_http_x_req, $upstream_http_set_cookie want %s, %s", line, n, cookie)
		}
		if f[3] != "200" && f[3] != "502, 200" {
			t.Errorf("log line %q: $upstream_status", line)
		}
	}
}

// checkEcho says what is wrong with a response to the request for
// /kind/n, if anything.
func checkEcho(res *http.Response, body, kind, n string) string {
	if res.StatusCode != http.StatusOK {
		return fmt.Sprintf("status %d", res.StatusCode)
	}
	if got := res.Header.Values("X-Req"); len(got) != 1 || got[0] != n {
		return fmt.Sprintf("X-Req %q", got)
	}
	var cookies []string
	if n[len(n)-1]%2 == 0 {
		cookies = []string{"s=" + n}
	}
	if got := res.Header.Values("Set-Cookie"); fmt.Sprint(got) != fmt.Sprint(cookies) {
		return fmt.Sprintf("Set-Cookie %q, want %q", got, cookies)
	}
	for k := range res.Header {
		if (strings.HasPrefix(k, "X-Only-") && k != "X-Only-"+n) || strings.HasPrefix(k, "X-Bad-") {
			return "a field of another response: " + k
		}
	}
	want := "body-" + n
	if kind == "head" {
		want = ""
	}
	if body != want {
		return fmt.Sprintf("body %q, want %q", body, want)
	}
	return ""
}

// TestKeepStorage: an exchange that lent its storage is recycled only
// when the client's server has certainly written the header block, whose
// values are the storage's, by the handler's end: a status without a
// body, or a Content-Length it frames the body with.
func TestKeepStorage(t *testing.T) {
	tests := []struct {
		name   string
		status int
		length []string // the client's Content-Length field; nil: none
		lent   bool
		keep   bool
	}{
		{"a length", 200, []string{"11"}, true, true},
		{"no body", 204, nil, true, true},
		{"not modified", 304, nil, true, true},
		{"no length", 200, nil, true, false},
		{"an empty length", 200, []string{""}, true, false},
		{"not a number", 200, []string{"1x"}, true, false},
		{"two lengths", 200, []string{"1", "1"}, true, false},
		{"no status yet", 0, []string{"11"}, true, false},
		{"nothing lent", 200, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bw := &benchWriter{h: http.Header{}}
			if tt.length != nil {
				bw.h["Content-Length"] = tt.length
			}
			w := &responseWriter{ResponseWriter: bw, status: tt.status}
			x := &exchange{recyclable: true}
			x.tries = 1
			if tt.lent {
				x.lendStorage()
			}
			x.keepStorage(w)
			if x.recyclable != tt.keep {
				t.Errorf("recyclable = %v, want %v", x.recyclable, tt.keep)
			}
		})
	}
}
