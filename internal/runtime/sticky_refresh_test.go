package runtime

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// stickyClock is a clock the test moves by hand.
type stickyClock struct{ unix atomic.Int64 }

func (c *stickyClock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *stickyClock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }
func newStickyClock(start time.Time) *stickyClock {
	c := &stickyClock{}
	c.unix.Store(start.Unix())
	return c
}

// startLimpetAt starts conf (with "{{app}}" replaced by addr) on the clock c.
func startLimpetAt(t *testing.T, conf, addr string, c *stickyClock) string {
	t.Helper()
	cfg, err := config.LoadBytes("sticky.conf", []byte(strings.ReplaceAll(conf, "{{app}}", addr)), config.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	rt, err := New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler), Now: c.now})
	if err != nil {
		t.Fatalf("runtime: %v", err)
	}
	if err := rt.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return "http://" + rt.Addrs()[0].String()
}

func stickyConf(params string) string {
	return "upstream backend {\n server {{app}};\n sticky cookie SERVERID " + params + ";\n}\n" +
		"server {\n listen 127.0.0.1:0;\n access_log off;\n location / { proxy_pass http://backend; }\n}\n"
}

// A returning user's response carries the cookie again, its expiry
// counted from that response (nginx's sliding expires=), and with
// enforce_expiry the stamp in the value moves with it; assign_only keeps
// the cookie to the response that assigns the server.
func TestStickyCookieOnEveryResponse(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		params string
		// again: whether the returning user's response carries the cookie.
		again bool
	}{
		{"default: every response", "expires=1h path=/", true},
		{"enforce_expiry: the stamp refreshes", "expires=1h enforce_expiry", true},
		{"assign_only: only on assignment", "expires=1h assign_only", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newBackend(t, "app")
			clock := newStickyClock(start)
			url := startLimpetAt(t, stickyConf(tt.params), app.addr(), clock)
			id := upstream.IDFor(app.addr(), "")

			res, _ := get(t, newClient(t), url+"/")
			first := serverIDCookie(res)
			if first == nil {
				t.Fatalf("first response: Set-Cookie %q, want a SERVERID cookie", res.Header["Set-Cookie"])
			}
			if want := start.Add(time.Hour); !first.Expires.Equal(want) {
				t.Errorf("first cookie expires %v, want %v", first.Expires, want)
			}

			// Half an hour on, the user comes back with that cookie (sent
			// by hand: the jar would drop nothing yet, but this keeps the
			// request exactly the one the first response pinned).
			clock.advance(30 * time.Minute)
			res, body := get(t, &http.Client{}, url+"/", "Cookie", "SERVERID="+first.Value)
			if body != "app" {
				t.Fatalf("returning user reached %q, want app", body)
			}
			again := serverIDCookie(res)
			if !tt.again {
				if again != nil {
					t.Fatalf("returning user got Set-Cookie %q, want none with assign_only", res.Header["Set-Cookie"])
				}
				return
			}
			if again == nil {
				t.Fatalf("returning user got Set-Cookie %q, want the cookie again", res.Header["Set-Cookie"])
			}
			if want := start.Add(90 * time.Minute); !again.Expires.Equal(want) || again.MaxAge != 3600 {
				t.Errorf("renewed cookie expires %v max-age %d, want %v and 3600", again.Expires, again.MaxAge, want)
			}
			if !strings.HasPrefix(again.Value, id) {
				t.Errorf("renewed cookie %q does not name the server %s", again.Value, id)
			}
			stamped := strings.Contains(tt.params, "enforce_expiry")
			if stamped == (again.Value == first.Value) {
				t.Errorf("value %q after %q: with enforce_expiry the stamp must move, without it the value stays", again.Value, first.Value)
			}
			if stamped {
				// Past the first stamp but within the renewed one, the
				// renewed value still pins the user (no "new/expired").
				clock.advance(45 * time.Minute)
				res, _ := get(t, &http.Client{}, url+"/", "Cookie", "SERVERID="+again.Value)
				if c := serverIDCookie(res); c == nil || c.Value == again.Value || !strings.HasPrefix(c.Value, id+".") {
					t.Errorf("renewed value, 75 minutes after the first: Set-Cookie %q, want a later stamp for %s", res.Header["Set-Cookie"], id)
				}
			}
		})
	}
}

// domain= takes variables, expanded for each request: $host gives each
// site its own cookie domain.
func TestStickyCookieDomainVariable(t *testing.T) {
	app := newBackend(t, "app")
	url := startLimpetAt(t, stickyConf("domain=$host path=/"), app.addr(), newStickyClock(time.Now()))
	id := upstream.IDFor(app.addr(), "")
	for host, domain := range map[string]string{"shop.example.com": "shop.example.com", "Blog.Example.org:8080": "blog.example.org"} {
		req, err := http.NewRequest(http.MethodGet, url+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		res, _ := do(t, &http.Client{}, req)
		if got, want := res.Header.Values("Set-Cookie"), "SERVERID="+id+"; domain="+domain+"; path=/"; len(got) != 1 || got[0] != want {
			t.Errorf("Host %q: Set-Cookie %q, want %q", host, got, want)
		}
	}
}

// A variable of domain= or samesite= that does not exist is an error at
// the directive's line, in nginx's words.
func TestStickyCookieBadVariable(t *testing.T) {
	for _, tt := range []struct{ params, want string }{
		{"domain=$hots", `unknown "hots" variable`},
		{"samesite=$x", `unknown "x" variable`},
		{`"domain=${host"`, `the closing bracket in "host" variable is missing`},
		{"samesite=$", `invalid "samesite" parameter value`},
	} {
		cfg, err := config.LoadBytes("sticky.conf", []byte(strings.ReplaceAll(stickyConf(tt.params), "{{app}}", "127.0.0.1:1")), config.Options{})
		if err != nil {
			t.Fatalf("%s: load: %v", tt.params, err)
		}
		_, err = New(cfg, Options{ErrorLog: slog.New(slog.DiscardHandler)})
		if want := tt.want + " in sticky.conf:3"; err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", tt.params, err, want)
		}
	}
}
