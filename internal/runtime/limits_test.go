package runtime

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// lineSignal is an error log that closes a channel when a line holding
// want is written: tests wait on the event, not on time.
type lineSignal struct {
	syncBuffer
	want string
	once sync.Once
	seen chan struct{}
}

func (s *lineSignal) Write(p []byte) (int, error) {
	n, err := s.syncBuffer.Write(p)
	if strings.Contains(string(p), s.want) {
		s.once.Do(func() { close(s.seen) })
	}
	return n, err
}

// startLimpetSignal is startLimpet with an error log that signals the
// first line holding want.
func startLimpetSignal(t *testing.T, conf, want string, repl ...string) (*limpet, *lineSignal) {
	t.Helper()
	sig := &lineSignal{want: want, seen: make(chan struct{})}
	return startLimpetLogging(t, conf, sig, &sig.syncBuffer, repl...), sig
}

const limitReqConf = `
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=two:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=three:1m rate=1r/m;
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    proxy_set_header X-Limit $limit_req_status;
    location / {
        limit_req zone=one;
        proxy_pass http://{{app}};
    }
    location /status {
        limit_req zone=two;
        limit_req_status 429;
        proxy_pass http://{{app}};
    }
    location /return {
        limit_req zone=three;
        return 200 "answered";
    }
}
`

// limit_req with no burst: the second request at once is rejected with
// 503 (or limit_req_status), never reaches the backend, and is logged as
// nginx logs it; a `return` answers before the limit.
func TestLimitReqRejects(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, limitReqConf, "{{app}}", app.addr())
	c := newClient(t)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "app"},
		{"/", 503, "503 Service Temporarily Unavailable"},
		{"/status", 200, "app"},
		{"/status", 429, "429 Too Many Requests"},
		{"/return", 200, "answered"},
		{"/return", 200, "answered"},
	}
	for i, tt := range tests {
		res, body := get(t, c, lb.url+tt.path)
		if res.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("request %d to %s: %d %q, want %d with %q", i+1, tt.path, res.StatusCode, body, tt.status, tt.body)
		}
	}
	if n := app.hitCount(); n != 2 {
		t.Errorf("backend saw %d requests, want 2", n)
	}
	if r, _ := app.lastRequest(); r.Header.Get("X-Limit") != "PASSED" {
		t.Errorf("$limit_req_status at the backend: %q, want PASSED", r.Header.Get("X-Limit"))
	}
	for _, want := range []string{
		`level=ERROR msg="limiting requests, excess: 1.000 by zone \"one\"" client=127.0.0.1 server="" request="GET / HTTP/1.1"`,
		`msg="limiting requests, excess: 1.000 by zone \"two\""`,
	} {
		if !strings.Contains(lb.errLog.String(), want) {
			t.Errorf("error log lacks %s:\n%s", want, lb.errLog.String())
		}
	}
}

const limitReqDelayConf = `
limit_req_zone $binary_remote_addr zone=slow:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=fast:1m rate=10r/s;
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    proxy_set_header X-Limit $limit_req_status;
    location /slow {
        limit_req zone=slow burst=5;
        proxy_pass http://{{app}};
    }
    location /fast {
        limit_req zone=fast burst=5;
        proxy_pass http://{{app}};
    }
}
`

// A request beyond the rate but within burst waits for the rate, then is
// served, the backend seeing $limit_req_status DELAYED.
func TestLimitReqDelays(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, limitReqDelayConf, "{{app}}", app.addr())
	c := newClient(t)
	for i, want := range []string{"PASSED", "DELAYED"} {
		res, _ := get(t, c, lb.url+"/fast")
		r, _ := app.lastRequest()
		if res.StatusCode != 200 || r.Header.Get("X-Limit") != want {
			t.Errorf("request %d: %d with $limit_req_status %q, want 200 and %s", i+1, res.StatusCode, r.Header.Get("X-Limit"), want)
		}
	}
	if !strings.Contains(lb.errLog.String(), `level=WARN msg="delaying request, excess: `) {
		t.Errorf("the delay is not logged at warn:\n%s", lb.errLog.String())
	}
}

// A client that leaves while its request is delayed ends the wait: the
// request is logged 499 at once (not after the minute the rate asks
// for) and never reaches the backend.
func TestLimitReqDelayedClientLeaves(t *testing.T) {
	app := newBackend(t, "app")
	lb, sig := startLimpetSignal(t, limitReqDelayConf, "delaying request", "{{app}}", app.addr())
	if res, _ := get(t, newClient(t), lb.url+"/slow"); res.StatusCode != 200 {
		t.Fatalf("first request: %d", res.StatusCode)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sig.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("the second request was not delayed:\n%s", lb.errLog.String())
	}
	_ = conn.Close()
	// The handler returns once it notices the client left; waiting for
	// the rate would take a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lb.rt.cur.Load().waitIdle(ctx); err != nil {
		t.Fatalf("the delayed request still waits after its client left: %v", err)
	}
	e := parseLog(t, lb.accessLog(t))
	if len(e) != 2 || e[1].Status != 499 {
		t.Errorf("logged %+v, want the second request with 499", e)
	}
	if n := app.hitCount(); n != 1 {
		t.Errorf("backend saw %d requests, want 1", n)
	}
}

const limitConnConf = `
limit_conn_zone $binary_remote_addr zone=addr:1m;
server {
    listen 127.0.0.1:0;
    access_log {{log}};
    proxy_set_header X-Limit $limit_conn_status;
    location / {
        limit_conn addr 1;
        proxy_pass http://{{app}};
    }
}
`

// limit_conn 1: while a client's request is at a slow backend, its
// second is refused with 503; the first still succeeds, and once it has
// ended the count is free again.
func TestLimitConnConcurrent(t *testing.T) {
	app := newBackend(t, "app")
	received := make(chan struct{}, 1)
	release := make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			received <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done "+r.Header.Get("X-Limit"))
	})
	lb := startLimpet(t, limitConnConf, "{{app}}", app.addr())
	type answer struct {
		status int
		body   string
	}
	first := make(chan answer, 1)
	go func() {
		res, err := newClient(t).Get(lb.url + "/slow")
		if err != nil {
			first <- answer{body: err.Error()}
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		first <- answer{res.StatusCode, string(body)}
	}()
	select {
	case <-received:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend never received the first request")
	}
	res, body := get(t, newClient(t), lb.url+"/other")
	if res.StatusCode != 503 || !strings.Contains(body, "503 Service Temporarily Unavailable") {
		t.Errorf("concurrent request: %d %q, want 503", res.StatusCode, body)
	}
	close(release)
	if a := <-first; a.status != 200 || a.body != "done PASSED" {
		t.Errorf("first request: %d %q, want 200 and \"done PASSED\"", a.status, a.body)
	}
	// The first request's count is given back when its handler returns,
	// just after its response: wait for the handler to be idle.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lb.rt.cur.Load().waitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, newClient(t), lb.url+"/after"); res.StatusCode != 200 {
		t.Errorf("after the first ended: %d, want 200", res.StatusCode)
	}
	if !strings.Contains(lb.errLog.String(), `level=ERROR msg="limiting connections by zone \"addr\"" client=127.0.0.1`) {
		t.Errorf("the refusal is not logged:\n%s", lb.errLog.String())
	}
}

// A zone key naming an unknown variable is an error at its line, in
// nginx's words.
func TestLimitZoneBadKey(t *testing.T) {
	for _, directive := range []string{
		"limit_req_zone $nope zone=one:1m rate=1r/s;",
		"limit_conn_zone $nope zone=one:1m;",
	} {
		path := filepath.Join(t.TempDir(), "limpet.conf")
		if err := os.WriteFile(path, []byte("\n"+directive+"\nserver { listen 127.0.0.1:0; }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
		if want := `unknown "nope" variable in ` + path + ":2"; err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", directive, err, want)
		}
	}
}
