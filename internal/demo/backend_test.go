package demo

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	acceptCurl    = "*/*"
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

// startBackend starts a backend on a free loopback port and stops it when
// the test ends.
func startBackend(t *testing.T, name string, opts ...func(*Backend)) *Backend {
	t.Helper()
	b := NewBackend(name, "127.0.0.1:0")
	for _, o := range opts {
		o(b)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if b.Running() {
			if err := b.Stop(); err != nil {
				t.Errorf("cleanup Stop: %v", err)
			}
		}
	})
	return b
}

// newClient returns a client with a cookie jar that does not follow
// redirects, so tests see the 303s. Cookies on 127.0.0.1 are shared across
// ports, so one jar presents app-01's session to app-02, just as a browser
// does behind limpet after a failover.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar:     jar,
		Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, c *http.Client, method, rawURL, accept string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", accept)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return resp, string(b)
}

func baseURL(b *Backend) string { return "http://" + b.Addr() }

func TestVisitsGrowOnSameBackend(t *testing.T) {
	b := startBackend(t, "app-01")
	c := newClient(t)
	steps := []struct {
		want      string
		setCookie bool
	}{
		{"server=app-01 visits=1 cart= session=new\n", true},
		{"server=app-01 visits=2 cart= session=existing\n", false},
		{"server=app-01 visits=3 cart= session=existing\n", false},
	}
	for i, s := range steps {
		t.Run(fmt.Sprint("visit", i+1), func(t *testing.T) {
			resp, body := do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil)
			if resp.StatusCode != http.StatusOK || body != s.want {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, s.want)
			}
			setCookie := resp.Header.Get("Set-Cookie")
			if (setCookie != "") != s.setCookie {
				t.Fatalf("Set-Cookie = %q, want present=%v", setCookie, s.setCookie)
			}
			if s.setCookie {
				ck := resp.Cookies()[0]
				if ck.Name != "demo_session" || len(ck.Value) != 32 || !ck.HttpOnly || ck.Path != "/" {
					t.Fatalf("session cookie = %+v, want demo_session, 32 hex digits, HttpOnly, Path=/", ck)
				}
			}
		})
	}
}

func TestCart(t *testing.T) {
	b := startBackend(t, "app-01")
	c := newClient(t)
	u := baseURL(b)
	steps := []struct {
		name, method, path, accept string
		form                       url.Values
		wantCode                   int
		wantBody                   string
		wantLocation               string
	}{
		{"add apple", "POST", "/cart", acceptCurl, url.Values{"item": {"apple"}}, 200, "server=app-01 visits=0 cart=apple session=new\n", ""},
		{"add bread", "POST", "/cart", acceptCurl, url.Values{"item": {"bread"}}, 200, "server=app-01 visits=0 cart=apple,bread session=existing\n", ""},
		{"visit", "GET", "/", acceptCurl, nil, 200, "server=app-01 visits=1 cart=apple,bread session=existing\n", ""},
		{"unknown item", "POST", "/cart", acceptCurl, url.Values{"item": {"caviar"}}, 400, "unknown item \"caviar\": choose one of apple, bread, coffee, milk, cheese, tea\n", ""},
		{"missing item", "POST", "/cart", acceptCurl, url.Values{}, 400, "unknown item \"\": choose one of apple, bread, coffee, milk, cheese, tea\n", ""},
		{"browser add", "POST", "/cart", acceptBrowser, url.Values{"item": {"coffee"}}, 303, "", "/"},
		{"after browser add", "GET", "/", acceptCurl, nil, 200, "server=app-01 visits=2 cart=apple,bread,coffee session=existing\n", ""},
		{"clear", "POST", "/cart/clear", acceptCurl, url.Values{}, 200, "server=app-01 visits=2 cart= session=existing\n", ""},
		{"browser clear", "POST", "/cart/clear", acceptBrowser, url.Values{}, 303, "", "/"},
		{"get cart is 405", "GET", "/cart", acceptCurl, nil, 405, "Method Not Allowed\n", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, body := do(t, c, s.method, u+s.path, s.accept, s.form)
			if resp.StatusCode != s.wantCode {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, s.wantCode, body)
			}
			if s.wantCode != 303 && body != s.wantBody {
				t.Fatalf("body = %q, want %q", body, s.wantBody)
			}
			if got := resp.Header.Get("Location"); got != s.wantLocation {
				t.Fatalf("Location = %q, want %q", got, s.wantLocation)
			}
		})
	}
}

func TestCartIsBounded(t *testing.T) {
	b := startBackend(t, "app-01")
	c := newClient(t)
	for range maxCart {
		if resp, body := do(t, c, "POST", baseURL(b)+"/cart", acceptCurl, url.Values{"item": {"tea"}}); resp.StatusCode != 200 {
			t.Fatalf("add: %d %q", resp.StatusCode, body)
		}
	}
	resp, body := do(t, c, "POST", baseURL(b)+"/cart", acceptCurl, url.Values{"item": {"tea"}})
	if want := "cart is full (20 items): clear it first\n"; resp.StatusCode != 409 || body != want {
		t.Fatalf("got %d %q, want 409 %q", resp.StatusCode, body, want)
	}
}

func TestContentNegotiation(t *testing.T) {
	b := startBackend(t, "app-01")
	tests := []struct {
		accept, wantType, wantIn string
	}{
		{acceptCurl, "text/plain; charset=utf-8", "server=app-01 visits=1"},
		{"", "text/plain; charset=utf-8", "server=app-01 visits=1"},
		{"application/json", "text/plain; charset=utf-8", "server=app-01 visits=1"},
		{acceptBrowser, "text/html; charset=utf-8", "Visits in this session on app-01: <strong>1</strong>"},
		{"text/html", "text/html; charset=utf-8", "Served by <span class=\"server\">app-01</span>"},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			resp, body := do(t, newClient(t), "GET", baseURL(b)+"/", tt.accept, nil)
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Fatalf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if !strings.Contains(body, tt.wantIn) {
				t.Fatalf("body lacks %q:\n%s", tt.wantIn, body)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

func TestHTMLPage(t *testing.T) {
	b := startBackend(t, "app-01", func(b *Backend) { b.ControlURL = "http://127.0.0.1:8081/" })
	c := newClient(t)
	u, _ := url.Parse(baseURL(b))
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "SERVERID", Value: "<script>alert(1)</script>"}})
	do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil) // start a session
	do(t, c, "POST", baseURL(b)+"/cart", acceptCurl, url.Values{"item": {"bread"}})
	_, body := do(t, c, "GET", baseURL(b)+"/", acceptBrowser, nil)
	var sessionID string
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "demo_session" {
			sessionID = ck.Value
		}
	}
	for _, want := range []string{
		"Served by <span class=\"server\">app-01</span>",
		"Visits in this session on app-01: <strong>2</strong>",
		"<li>bread</li>",
		`<form method="post" action="/cart"`,
		`<form method="post" action="/cart/clear"`,
		"<option>coffee</option>",
		"The cookie <code>SERVERID</code>, set by the load balancer, pins you to app-01",
		"<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>", // carried cookies are shown, escaped
		"<code>" + sessionID + "</code>",
		`<a href="http://127.0.0.1:8081/">Open the demo control panel</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "<link", " src=", "not found on"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestHTMLPageWithoutControlURLOrCookies(t *testing.T) {
	b := startBackend(t, "app-02")
	_, body := do(t, newClient(t), "GET", baseURL(b)+"/", acceptBrowser, nil)
	for _, want := range []string{"New session started on app-02.", "No SERVERID cookie came with this request"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "Open the demo control panel") {
		t.Error("page links to the control panel without a ControlURL")
	}
}

const lostMessage = "Your session was not found on app-02: it lived on another server (or this one restarted).</strong>This is the session loss sticky sessions prevent — and what a failover costs."

func TestUnknownSessionIsLost(t *testing.T) {
	tests := []struct {
		name, accept, wantIn string
	}{
		{"curl", acceptCurl, "server=app-02 visits=1 cart= session=lost\n"},
		{"browser", acceptBrowser, lostMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBackend(t, "app-02")
			c := newClient(t)
			u, _ := url.Parse(baseURL(b))
			const stale = "0123456789abcdef0123456789abcdef"
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "demo_session", Value: stale}})

			resp, body := do(t, c, "GET", baseURL(b)+"/", tt.accept, nil)
			if !strings.Contains(body, tt.wantIn) {
				t.Fatalf("body lacks %q:\n%s", tt.wantIn, body)
			}
			cks := resp.Cookies()
			if len(cks) != 1 || cks[0].Name != "demo_session" || cks[0].Value == stale {
				t.Fatalf("Set-Cookie = %v, want a fresh demo_session", cks)
			}
			// The fresh session is now known: the warning is shown once.
			_, body = do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil)
			if want := "server=app-02 visits=2 cart= session=existing\n"; body != want {
				t.Fatalf("next visit = %q, want %q", body, want)
			}
		})
	}
}

// A browser that lands on the other server with a POST is redirected; the
// warning must survive the redirect.
func TestLostSessionWarningSurvivesPostRedirect(t *testing.T) {
	b := startBackend(t, "app-02")
	c := newClient(t)
	u, _ := url.Parse(baseURL(b))
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "demo_session", Value: "feedfacefeedfacefeedfacefeedface"}})
	resp, _ := do(t, c, "POST", baseURL(b)+"/cart", acceptBrowser, url.Values{"item": {"milk"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303", resp.StatusCode)
	}
	_, body := do(t, c, "GET", baseURL(b)+"/", acceptBrowser, nil)
	if !strings.Contains(body, lostMessage) || !strings.Contains(body, "<li>milk</li>") {
		t.Fatalf("redirected page lacks the warning or the new cart:\n%s", body)
	}
	_, body = do(t, c, "GET", baseURL(b)+"/", acceptBrowser, nil)
	if strings.Contains(body, "not found on") {
		t.Fatal("warning shown twice")
	}
}

// The scenario of the design notes without limpet: the browser's session
// from app-01 reaches app-02, which does not know it.
func TestFailoverToOtherBackendLosesSession(t *testing.T) {
	app1, app2 := startBackend(t, "app-01"), startBackend(t, "app-02")
	c := newClient(t)
	do(t, c, "GET", baseURL(app1)+"/", acceptCurl, nil)
	do(t, c, "POST", baseURL(app1)+"/cart", acceptCurl, url.Values{"item": {"apple"}})
	if _, body := do(t, c, "GET", baseURL(app1)+"/", acceptCurl, nil); body != "server=app-01 visits=2 cart=apple session=existing\n" {
		t.Fatalf("app-01: %q", body)
	}
	resp, body := do(t, c, "GET", baseURL(app2)+"/", acceptCurl, nil)
	if want := "server=app-02 visits=1 cart= session=lost\n"; body != want {
		t.Fatalf("app-02: %q, want %q", body, want)
	}
	if got := resp.Header.Get("X-Served-By"); got != "app-02" {
		t.Fatalf("X-Served-By = %q, want app-02", got)
	}
}

func TestEveryResponseNamesTheServer(t *testing.T) {
	b := startBackend(t, "app-01")
	tests := []struct {
		method, path         string
		wantCode             int
		wantType, wantPrefix string
	}{
		{"GET", "/", 200, "text/plain; charset=utf-8", "server=app-01"},
		{"GET", "/healthz", 200, "text/plain; charset=utf-8", "ok\n"},
		{"GET", "/favicon.ico", 404, "text/plain; charset=utf-8", "404 page not found"},
		{"DELETE", "/", 405, "text/plain; charset=utf-8", "Method Not Allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, newClient(t), tt.method, baseURL(b)+tt.path, acceptCurl, nil)
			if resp.StatusCode != tt.wantCode || !strings.HasPrefix(body, tt.wantPrefix) {
				t.Fatalf("got %d %q, want %d %q...", resp.StatusCode, body, tt.wantCode, tt.wantPrefix)
			}
			if got := resp.Header.Get("X-Served-By"); got != "app-01" {
				t.Fatalf("X-Served-By = %q, want app-01", got)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Fatalf("Content-Type = %q, want %q", got, tt.wantType)
			}
		})
	}
}

func TestStopAndRestart(t *testing.T) {
	b := startBackend(t, "app-01")
	addr := b.Addr()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr() = %q, want the real port", addr)
	}
	c := newClient(t)
	do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil)
	do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil)

	// An idle keep-alive connection, as limpet's transport would hold.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	if err := b.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if b.Running() {
		t.Fatal("Running() = true after Stop")
	}
	if b.Addr() != addr {
		t.Fatalf("Addr() = %q after Stop, want %q", b.Addr(), addr)
	}
	// Open connections are cut at once, like a crash.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("read on an open connection after Stop = %d, %v; want it closed", n, err)
	}
	// New connections are refused.
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial after Stop: %v, want connection refused", err)
	}
	if err := b.Stop(); err == nil || err.Error() != "stop app-01: backend is not running" || !errors.Is(err, ErrStopped) {
		t.Fatalf("second Stop = %v, want ErrStopped", err)
	}

	if err := b.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if !b.Running() || b.Addr() != addr {
		t.Fatalf("after restart Running()=%v Addr()=%q, want true %q", b.Running(), b.Addr(), addr)
	}
	// The sessions died with the old process.
	if _, body := do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil); body != "server=app-01 visits=1 cart= session=lost\n" {
		t.Fatalf("after restart: %q", body)
	}
	if err := b.Start(); err == nil || err.Error() != "start app-01: backend is already running" || !errors.Is(err, ErrRunning) {
		t.Fatalf("second Start = %v, want ErrRunning", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestStartOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b := NewBackend("app-01", ln.Addr().String())
	err = b.Start()
	if err == nil {
		b.Stop()
		t.Fatal("Start on a taken port succeeded")
	}
	if !strings.HasPrefix(err.Error(), "start app-01: listen tcp "+ln.Addr().String()) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start = %v, want address in use", err)
	}
	if b.Running() {
		t.Fatal("Running() = true after a failed Start")
	}
}

// Concurrent visits in one session must all be counted (run with -race).
func TestConcurrentVisits(t *testing.T) {
	b := startBackend(t, "app-01")
	c := newClient(t)
	do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil)
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := c.Get(baseURL(b) + "/")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	if _, body := do(t, c, "GET", baseURL(b)+"/", acceptCurl, nil); body != fmt.Sprintf("server=app-01 visits=%d cart= session=existing\n", n+2) {
		t.Fatalf("after %d concurrent visits: %q", n, body)
	}
}

func TestSessionStoreIsBounded(t *testing.T) {
	s := newStore()
	for range maxSessions + 5 {
		s.use("", true, nil)
	}
	if got := len(s.sessions); got != maxSessions {
		t.Fatalf("sessions = %d, want %d", got, maxSessions)
	}
}
