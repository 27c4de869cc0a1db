package runtime

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// designNotes is the configuration of the design notes, as written, with
// the backends' addresses changed to local ones.
const designNotes = `
upstream backend {
    server {{app1}};
    server {{app2}};

    # This is the key for sticky sessions
    sticky cookie SERVERID expires=1h path=/;
}

server {
    listen 127.0.0.1:0;
    server_name loadbalancer.example.com;
    access_log {{log}};

    location / {
        proxy_pass http://backend;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
`

func serverIDCookie(res *http.Response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == "SERVERID" {
			return c
		}
	}
	return nil
}

// logEntry is the part of an access log line the tests look at.
type logEntry struct {
	Status   int    `json:"status"`
	Upstream string `json:"upstream"`
	Statuses string `json:"upstream_status"`
	Sticky   string `json:"sticky"`
	URI      string `json:"uri"`
}

func parseLog(t *testing.T, lines []string) []logEntry {
	t.Helper()
	out := make([]logEntry, 0, len(lines))
	for _, l := range lines {
		var e logEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("access log line is not JSON: %v\n%s", err, l)
		}
		out = append(out, e)
	}
	return out
}

// TestDesignNotes runs the story of the design notes end to end: the first
// request sets the cookie, requests with it stay on one server, new users
// spread, and when the pinned server dies the user is moved to the other
// one with a new cookie and no error.
func TestDesignNotes(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	byName := map[string]*backend{"app-01": app1, "app-02": app2}
	ids := map[string]string{"app-01": upstream.IDFor(app1.addr(), ""), "app-02": upstream.IDFor(app2.addr(), "")}

	// The first request of a user is balanced and sets the cookie.
	user := newClient(t)
	res, body := get(t, user, lb.url+"/")
	c := serverIDCookie(res)
	if res.StatusCode != 200 || c == nil {
		t.Fatalf("first request: status %d, Set-Cookie %q: want 200 and a SERVERID cookie", res.StatusCode, res.Header["Set-Cookie"])
	}
	pinned := body
	if c.Value != ids[pinned] {
		t.Errorf("cookie value %q, want the MD5 of %s's address %q", c.Value, pinned, ids[pinned])
	}
	if c.MaxAge != 3600 || c.Path != "/" || c.Expires.IsZero() {
		t.Errorf("cookie attributes: max-age %d path %q expires %v; want 3600, /, set", c.MaxAge, c.Path, c.Expires)
	}

	// 100 requests with the cookie all reach that server, and each
	// response carries the cookie again, as nginx sends it on every one.
	for i := range 100 {
		res, body := get(t, user, lb.url+"/")
		if body != pinned {
			t.Fatalf("request %d with the cookie went to %s, want %s", i, body, pinned)
		}
		if sc := res.Header.Values("Set-Cookie"); len(sc) != 1 || serverIDCookie(res).Value != ids[pinned] {
			t.Fatalf("request %d with a valid cookie got Set-Cookie %q, want SERVERID=%s once", i, sc, ids[pinned])
		}
	}

	// Users without the cookie spread over both servers.
	seen := map[string]int{}
	for range 20 {
		_, body := get(t, newClient(t), lb.url+"/")
		seen[body]++
	}
	if seen["app-01"] != 10 || seen["app-02"] != 10 {
		t.Errorf("20 new users went %v, want 10 each (round-robin)", seen)
	}

	// The pinned server dies: the next request is served by the other
	// server, with a new cookie for it, and no error.
	byName[pinned].stop()
	other := "app-02"
	if pinned == "app-02" {
		other = "app-01"
	}
	res, body = get(t, user, lb.url+"/")
	if res.StatusCode != 200 || body != other {
		t.Fatalf("after %s died: status %d from %q, want 200 from %s", pinned, res.StatusCode, body, other)
	}
	if c := serverIDCookie(res); c == nil || c.Value != ids[other] {
		t.Fatalf("after failover: Set-Cookie %q, want SERVERID=%s", res.Header["Set-Cookie"], ids[other])
	}
	// And the user stays there.
	for range 5 {
		if _, body := get(t, user, lb.url+"/"); body != other {
			t.Fatalf("after failover the user went to %s, want %s", body, other)
		}
	}

	entries := parseLog(t, lb.accessLog(t))
	if got := entries[0].Sticky; got != "new/no_cookie" {
		t.Errorf("first request logged %q, want new/no_cookie", got)
	}
	if got := entries[1].Sticky; got != "hit" {
		t.Errorf("second request logged %q, want hit", got)
	}
	failover := entries[1+100+20]
	if failover.Sticky != "reassigned/server_failed" || failover.Status != 200 {
		t.Errorf("failover logged %+v, want sticky reassigned/server_failed and status 200", failover)
	}
	if !strings.Contains(failover.Upstream, ", ") || !strings.HasSuffix(failover.Statuses, ", 200") {
		t.Errorf("failover logged upstream %q statuses %q, want both attempts", failover.Upstream, failover.Statuses)
	}
	if !strings.Contains(lb.errLog.String(), "upstream server temporarily disabled") {
		t.Errorf("the error log does not say the dead server was disabled:\n%s", lb.errLog.String())
	}
}

// A cookie that names no server (forged, malformed, or for a server that
// was removed) is treated as no cookie: the user is balanced afresh.
func TestInvalidCookieIsReassigned(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	for _, v := range []string{"forged", "", "127.0.0.1:1", "0123456789abcdef0123456789abcdef", `"%%%"`} {
		res, body := get(t, newClient(t), lb.url+"/", "Cookie", "SERVERID="+v)
		if res.StatusCode != 200 || serverIDCookie(res) == nil {
			t.Errorf("cookie %q: status %d Set-Cookie %q, want 200 and a fresh cookie", v, res.StatusCode, res.Header["Set-Cookie"])
		}
		if body != "app-01" && body != "app-02" {
			t.Errorf("cookie %q: body %q", v, body)
		}
	}
	for _, e := range parseLog(t, lb.accessLog(t)) {
		if e.Sticky != "new/invalid_cookie" {
			t.Errorf("logged %q, want new/invalid_cookie", e.Sticky)
		}
	}
}

// A server marked down gets none of its users; they are reassigned.
func TestDownServerReassigns(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	conf := strings.Replace(designNotes, "server {{app2}};", "server {{app2}} down;", 1)
	lb := startLimpet(t, conf, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	res, body := get(t, newClient(t), lb.url+"/", "Cookie", "SERVERID="+upstream.IDFor(app2.addr(), ""))
	if body != "app-01" || serverIDCookie(res) == nil || serverIDCookie(res).Value != upstream.IDFor(app1.addr(), "") {
		t.Fatalf("pinned to a down server: served by %q with Set-Cookie %q, want app-01 and its cookie", body, res.Header["Set-Cookie"])
	}
	if e := parseLog(t, lb.accessLog(t)); e[0].Sticky != "reassigned/server_down" {
		t.Errorf("logged %q, want reassigned/server_down", e[0].Sticky)
	}
	if app2.hitCount() != 0 {
		t.Errorf("the down server got %d requests", app2.hitCount())
	}
}

// The application's own Set-Cookie headers pass through untouched, beside
// limpet's.
func TestApplicationCookiesPassThrough(t *testing.T) {
	app1, app2 := newBackend(t, "app-01"), newBackend(t, "app-02")
	for _, b := range []*backend{app1, app2} {
		b.setHandler(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Set-Cookie", "session=abc; Path=/; HttpOnly")
			w.Header().Add("Set-Cookie", "theme=dark")
		})
	}
	lb := startLimpet(t, designNotes, "{{app1}}", app1.addr(), "{{app2}}", app2.addr())
	res, _ := get(t, newClient(t), lb.url+"/")
	got := res.Header.Values("Set-Cookie")
	if len(got) != 3 || got[0] != "session=abc; Path=/; HttpOnly" || got[1] != "theme=dark" || !strings.HasPrefix(got[2], "SERVERID=") {
		t.Errorf("Set-Cookie headers %q, want the application's two untouched and limpet's", got)
	}
}
