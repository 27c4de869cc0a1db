package sticky

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
)

func testPool() (*upstream.Pool, *upstream.Server, *upstream.Server) {
	a := &upstream.Server{ID: upstream.IDFor("127.0.0.1:9001", ""), Addr: "127.0.0.1:9001", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	b := &upstream.Server{ID: "blue", Addr: "127.0.0.1:9002", Route: "blue", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	return upstream.NewPool("backend", []*upstream.Server{a, b}), a, b
}

// The value must be exactly what NGINX Plus writes, so that sessions
// survive a move from nginx to limpet: the hex MD5 of "ip:port", or the
// route. The expected values come from `printf ADDR | md5sum`.
func TestIDForMatchesNginx(t *testing.T) {
	tests := []struct{ addr, route, want string }{
		{"127.0.0.1:9001", "", "422db4e6da7b4bba46bd476612df0469"},
		{"10.0.0.1:80", "", "1484b8b3753313249a03bcfd7b96938d"},
		{"127.0.0.1:9001", "a", "a"},
	}
	for _, tt := range tests {
		if got := upstream.IDFor(tt.addr, tt.route); got != tt.want {
			t.Errorf("IDFor(%q, %q) = %q, want %q", tt.addr, tt.route, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	pool, a, b := testPool()
	now := time.Unix(1_700_000_000, 0)
	c := NewCookie(config.StickyCookie{Name: "SERVERID"})
	down := &upstream.Server{ID: upstream.IDFor("127.0.0.1:9003", ""), Addr: "127.0.0.1:9003", Weight: 1}
	down.SetDown(true)
	poolWithDown := upstream.NewPool("backend", []*upstream.Server{a, b, down})

	tests := []struct {
		name    string
		cookies []string
		pool    *upstream.Pool
		server  *upstream.Server
		label   string
	}{
		{"no cookie header", nil, pool, nil, "new/no_cookie"},
		{"other cookies only", []string{"session=abc; theme=dark"}, pool, nil, "new/no_cookie"},
		{"valid md5 value", []string{"SERVERID=" + a.ID}, pool, a, "hit"},
		{"valid route value", []string{"x=1; SERVERID=blue; y=2"}, pool, b, "hit"},
		{"quoted value", []string{`SERVERID="blue"`}, pool, nil, "new/invalid_cookie"},
		{"second Cookie header", []string{"x=1", "SERVERID=blue"}, pool, b, "hit"},
		{"unknown value", []string{"SERVERID=0123456789abcdef0123456789abcdef"}, pool, nil, "new/invalid_cookie"},
		{"forged address", []string{"SERVERID=127.0.0.1:9001"}, pool, nil, "new/invalid_cookie"},
		{"empty value", []string{"SERVERID="}, pool, nil, "new/invalid_cookie"},
		{"garbage", []string{"SERVERID=%00%ff<script>"}, pool, nil, "new/invalid_cookie"},
		{"name is case-sensitive", []string{"serverid=blue"}, pool, nil, "new/no_cookie"},
		{"stale cookie then valid one", []string{"SERVERID=gone; SERVERID=blue"}, pool, b, "hit"},
		{"pinned server down", []string{"SERVERID=" + down.ID}, poolWithDown, nil, "reassigned/server_down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.cookies {
				r.Header.Add("Cookie", v)
			}
			d := c.Decide(r, tt.pool, now)
			if d.Server != tt.server {
				t.Errorf("server = %v, want %v", d.Server, tt.server)
			}
			if got := d.Label(); got != tt.label {
				t.Errorf("label = %q, want %q", got, tt.label)
			}
		})
	}
}

func TestDecideFailedServer(t *testing.T) {
	pool, a, b := testPool()
	now := time.Unix(1_700_000_000, 0)
	c := NewCookie(config.StickyCookie{Name: "SERVERID"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "SERVERID="+a.ID)

	a.RecordFailure(now) // max_fails=1: a is now skipped for fail_timeout
	d := c.Decide(r, pool, now.Add(time.Second))
	if d.Label() != "reassigned/server_unavailable" || d.Server != nil {
		t.Fatalf("after a failure: %q server %v, want reassigned/server_unavailable and no server", d.Label(), d.Server)
	}
	if !d.NeedsCookie(b) {
		t.Error("a user moved to another server must get a new cookie")
	}
	d = c.Decide(r, pool, now.Add(11*time.Second))
	if d.Label() != "hit" || d.Server != a {
		t.Errorf("after fail_timeout: %q, want hit on the original server", d.Label())
	}
}

// Each state of the cookie's server gives its own reason.
func TestDecideServerStates(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := NewCookie(config.StickyCookie{Name: "SERVERID"})
	tests := []struct {
		name  string
		set   func(s *upstream.Server)
		label string
		hit   bool
	}{
		{"up", func(*upstream.Server) {}, "hit", true},
		{"draining keeps its users", func(s *upstream.Server) { s.SetDraining(true) }, "hit/draining", true},
		{"unhealthy", func(s *upstream.Server) { s.SetHealth(upstream.HealthUnhealthy, now) }, "reassigned/server_unhealthy", false},
		{"checking", func(s *upstream.Server) { s.SetHealth(upstream.HealthChecking, now) }, "reassigned/server_unhealthy", false},
		{"healthy again", func(s *upstream.Server) {
			s.SetHealth(upstream.HealthUnhealthy, now)
			s.SetHealth(upstream.HealthHealthy, now)
		}, "hit", true},
		{"down", func(s *upstream.Server) { s.SetDown(true) }, "reassigned/server_down", false},
		{"down and draining", func(s *upstream.Server) { s.SetDown(true); s.SetDraining(true) }, "reassigned/server_down", false},
		{"at max_conns", func(s *upstream.Server) { s.MaxConns = 1; s.Begin() }, "reassigned/server_full", false},
		{"below max_conns", func(s *upstream.Server) { s.MaxConns = 2; s.Begin() }, "hit", true},
		{"draining at max_conns", func(s *upstream.Server) { s.MaxConns = 1; s.Begin(); s.SetDraining(true) }, "reassigned/server_full", false},
		{"down at max_conns", func(s *upstream.Server) { s.MaxConns = 1; s.Begin(); s.SetDown(true) }, "reassigned/server_down", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, a, _ := testPool()
			tt.set(a)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", "SERVERID="+a.ID)
			d := c.Decide(r, pool, now)
			if d.Label() != tt.label || (d.Server == a) != tt.hit {
				t.Errorf("got %q (server %v), want %q", d.Label(), d.Server, tt.label)
			}
		})
	}
	// A cookie for a server removed at run time is told apart from a
	// forged one.
	pool, _, b := testPool()
	pool.Removed = map[string]bool{"gone": true}
	for value, want := range map[string]string{"gone": "reassigned/server_removed", "forged": "new/invalid_cookie", b.ID: "hit"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "SERVERID="+value)
		if got := c.Decide(r, pool, now).Label(); got != want {
			t.Errorf("cookie %q: %q, want %q", value, got, want)
		}
	}
}

func TestDecisionFailedDuringRequest(t *testing.T) {
	_, a, b := testPool()
	d := Decision{Server: a, Outcome: Hit, CookieID: a.ID}
	if d.NeedsCookie(a) {
		t.Error("a hit answered by its own server needs no new cookie")
	}
	d.Failed(a)
	if d.Label() != "reassigned/server_failed" || d.Server != nil {
		t.Errorf("got %q, want reassigned/server_failed", d.Label())
	}
	if !d.NeedsCookie(b) {
		t.Error("the server that answered must be written into a new cookie")
	}
	n := Decision{Outcome: New, Reason: NoCookie}
	n.Failed(a)
	if n.Label() != "new/no_cookie" {
		t.Errorf("a new user whose first server failed stays new: got %q", n.Label())
	}
	none := Decision{}
	if none.NeedsCookie(a) || none.Label() != "-" {
		t.Errorf("no persistence: NeedsCookie must be false and label \"-\", got %q", none.Label())
	}
}

func TestSetCookie(t *testing.T) {
	now := time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cfg  config.StickyCookie
		want string
	}{
		{"design notes", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"},
			"SERVERID=ID; expires=Thu, 26 Nov 2026 20:00:00 GMT; max-age=3600; path=/"},
		{"session cookie", config.StickyCookie{Name: "srv_id"}, "srv_id=ID"},
		{"expires=max", config.StickyCookie{Name: "s", ExpiresMax: true},
			"s=ID; expires=Thu, 31 Dec 2037 23:55:55 GMT; max-age=315360000"},
		{"every attribute", config.StickyCookie{Name: "s", Expires: 90 * time.Minute, Domain: ".example.com", Path: "/app",
			HTTPOnly: true, Secure: true, SameSite: "lax"},
			"s=ID; expires=Thu, 26 Nov 2026 20:30:00 GMT; max-age=5400; domain=.example.com; path=/app; secure; httponly; samesite=lax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCookie(tt.cfg)
			if got := c.SetCookie("ID", now, nil); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			// The header must parse as a cookie a browser keeps.
			h := http.Header{"Set-Cookie": {c.SetCookie("ID", now, nil)}}
			cookies := (&http.Response{Header: h}).Cookies()
			if len(cookies) != 1 || cookies[0].Name != tt.cfg.Name || cookies[0].Value != "ID" {
				t.Errorf("Set-Cookie does not parse back: %+v", cookies)
			}
		})
	}
}

func BenchmarkDecideHit(b *testing.B) {
	pool, a, _ := testPool()
	c := NewCookie(config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "_ga=GA1.2.3; SERVERID="+a.ID+"; theme=dark")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if d := c.Decide(r, pool, now); d.Server != a {
			b.Fatal("not a hit")
		}
	}
}

// domain= and samesite= are nginx complex values: expanded for each
// response, left out when empty, and a samesite that is none of the three
// becomes strict (upstream_sticky.t's domain_cv and samesite_var cases).
func TestSetCookieVariables(t *testing.T) {
	now := time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		cfg    config.StickyCookie
		host   string
		target string
		want   string
	}{
		{"domain $host", config.StickyCookie{Name: "s", Domain: "$host", Path: "/", Secure: true},
			"Shop.Example.com:8080", "/", "s=ID; domain=shop.example.com; path=/; secure"},
		{"domain of two variables", config.StickyCookie{Name: "s", Domain: "$arg_v$arg_v2"},
			"h", "/?v=bar&v2=baz", "s=ID; domain=barbaz"},
		{"empty domain left out", config.StickyCookie{Name: "s", Domain: "$arg_v", Path: "/p"},
			"h", "/", "s=ID; path=/p"},
		{"domain that would break the line left out", config.StickyCookie{Name: "s", Domain: "$arg_v", HTTPOnly: true},
			"h", "/?v=a;secure", "s=ID; httponly"},
		{"domain with prefix and expires", config.StickyCookie{Name: "s", Domain: ".$host", Expires: time.Hour},
			"a.example", "/", "s=ID; expires=Thu, 26 Nov 2026 20:00:00 GMT; max-age=3600; domain=.a.example"},
		{"samesite variable", config.StickyCookie{Name: "s", SameSite: "$arg_a"},
			"h", "/?a=Lax", "s=ID; samesite=Lax"},
		{"samesite none of the three", config.StickyCookie{Name: "s", SameSite: "$arg_a"},
			"h", "/?a=wrong", "s=ID; samesite=strict"},
		{"samesite empty left out", config.StickyCookie{Name: "s", SameSite: "$arg_a", Secure: true},
			"h", "/", "s=ID; secure"},
		{"both variables", config.StickyCookie{Name: "s", Domain: "$host", Path: "/", SameSite: "$arg_a"},
			"x.test", "/?a=none", "s=ID; domain=x.test; path=/; samesite=none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCookie(tt.cfg)
			r := httptest.NewRequest("GET", tt.target, nil)
			r.Host = tt.host
			vr := &vars.Request{R: r}
			if got := c.SetCookie("ID", now, vr); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Without assign_only, every response from a server carries the cookie
// (nginx); with it, only those of a user who needs a new one.
func TestSends(t *testing.T) {
	_, a, b := testPool()
	tests := []struct {
		name       string
		assignOnly bool
		dec        Decision
		answered   *upstream.Server
		want       bool
	}{
		{"hit", false, Decision{Server: a, Outcome: Hit, CookieID: a.ID}, a, true},
		{"hit, assign_only", true, Decision{Server: a, Outcome: Hit, CookieID: a.ID}, a, false},
		{"new", false, Decision{Outcome: New, Reason: NoCookie}, a, true},
		{"new, assign_only", true, Decision{Outcome: New, Reason: NoCookie}, a, true},
		{"reassigned, assign_only", true, Decision{Outcome: Reassigned, Reason: ServerDown, CookieID: a.ID}, b, true},
		{"no server answered", false, Decision{Outcome: New, Reason: NoCookie}, nil, false},
		{"no persistence", false, Decision{}, a, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCookie(config.StickyCookie{Name: "s", AssignOnly: tt.assignOnly})
			if got := c.Sends(&tt.dec, tt.answered); got != tt.want {
				t.Errorf("Sends = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkSetCookie(b *testing.B) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "shop.example.com"
	vr := &vars.Request{R: r}
	for _, bc := range []struct {
		name string
		cfg  config.StickyCookie
	}{
		{"static", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"}},
		{"domain=$host", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/", Domain: "$host"}},
		{"enforce_expiry", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/", EnforceExpiry: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := NewCookie(bc.cfg)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				_ = c.SetCookie("5bb4b3a0c9e5d9e4bd4c5fa4b9b1d7e0", now, vr)
			}
		})
	}
}

// Whatever a client puts in its Cookie header, Decide neither panics nor
// pins the request to a server the header does not name exactly.
func FuzzDecide(f *testing.F) {
	pool, a, _ := testPool()
	f.Add("SERVERID=" + a.ID)
	f.Add("SERVERID=blue; SERVERID=x")
	f.Add(`SERVERID="blue"`)
	f.Add("SERVERID")
	f.Add(";;=;SERVERID==blue")
	c := NewCookie(config.StickyCookie{Name: "SERVERID"})
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", header)
		d := c.Decide(r, pool, now)
		switch d.Outcome {
		case Hit:
			if d.Server == nil || !strings.Contains(header, d.Server.ID) {
				t.Fatalf("hit on %v from %q", d.Server, header)
			}
		case New:
			if d.Server != nil {
				t.Fatalf("new decision with a server from %q", header)
			}
		default:
			t.Fatalf("outcome %v from %q with every server up", d.Outcome, header)
		}
	})
}

// enforce_expiry: the value carries its expiry, so a cookie that comes
// back after it is expired even if the client ignored the expiry.
func TestEnforceExpiry(t *testing.T) {
	pool, a, _ := testPool()
	c := NewCookie(config.StickyCookie{Name: "SERVERID", Expires: time.Hour, EnforceExpiry: true})
	set := time.Unix(1_700_000_000, 0)
	header := c.SetCookie(a.ID, set, nil)
	value, _, _ := strings.Cut(strings.TrimPrefix(header, "SERVERID="), ";")
	if !strings.HasPrefix(value, a.ID+".") {
		t.Fatalf("value %q does not carry the server ID and a stamp", value)
	}
	tests := []struct {
		value string
		at    time.Time
		label string
	}{
		{value, set.Add(59 * time.Minute), "hit"},
		{value, set.Add(61 * time.Minute), "new/expired"},
		{a.ID, set.Add(48 * time.Hour), "hit"}, // an unstamped value (from NGINX Plus) is still good
		{a.ID + ".zzzzzz", set, "hit"},         // stamp far ahead
		{a.ID + ".!!", set, "new/invalid_cookie"},
		{"unknown." + strings.Split(value, ".")[1], set, "new/invalid_cookie"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "SERVERID="+tt.value)
		d := c.Decide(r, pool, tt.at)
		if d.Label() != tt.label {
			t.Errorf("%q at %v: %q, want %q", tt.value, tt.at.Sub(set), d.Label(), tt.label)
		}
		if tt.label == "new/expired" && (d.Server != nil || !d.NeedsCookie(a)) {
			t.Errorf("an expired cookie must be balanced afresh and replaced")
		}
	}
}

// enforce_expiry with expires=max: the stamp is NGINX Plus's date while
// that is at least ten years away, and ten years on after, so a value is
// never issued already expired.
func TestEnforceExpiryMax(t *testing.T) {
	pool, a, _ := testPool()
	c := NewCookie(config.StickyCookie{Name: "SERVERID", ExpiresMax: true, EnforceExpiry: true})
	tests := []struct {
		issued time.Time
		stamp  time.Time
	}{
		{time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), maxExpires},
		{time.Date(2027, 12, 31, 23, 55, 55, 0, time.UTC), maxExpires},
		{time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(maxAgeMax * time.Second)},
		{time.Date(2039, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2039, 6, 1, 0, 0, 0, 0, time.UTC).Add(maxAgeMax * time.Second)},
	}
	for _, tt := range tests {
		value := strings.TrimPrefix(strings.Split(c.SetCookie(a.ID, tt.issued, nil), ";")[0], "SERVERID=")
		if want := a.ID + "." + strconv.FormatInt(tt.stamp.Unix(), 36); value != want {
			t.Errorf("issued at %v: value %q, want %q (stamp %v)", tt.issued, value, want, tt.stamp)
		}
		for _, at := range []time.Time{tt.issued, tt.stamp} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", "SERVERID="+value)
			if d := c.Decide(r, pool, at); d.Label() != "hit" {
				t.Errorf("issued at %v, decided at %v: %q, want hit", tt.issued, at, d.Label())
			}
		}
	}
}

// With enforce_expiry a removed server's stamped cookie still reads
// server_removed.
func TestEnforceExpiryRemoved(t *testing.T) {
	pool, _, _ := testPool()
	c := NewCookie(config.StickyCookie{Name: "SERVERID", Expires: time.Hour, EnforceExpiry: true})
	now := time.Unix(1_700_000_000, 0)
	value := strings.TrimPrefix(strings.Split(c.SetCookie("gone", now, nil), ";")[0], "SERVERID=")
	pool.Removed = map[string]bool{"gone": true}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "SERVERID="+value)
	if got := c.Decide(r, pool, now).Label(); got != "reassigned/server_removed" {
		t.Errorf("stamped cookie of a removed server: %q, want reassigned/server_removed", got)
	}
}

// AddSetCookie adds what SetCookie returns after the application's own
// Set-Cookie fields, and the slice it shares between responses is never
// changed by what a response does with its header afterwards.
func TestAddSetCookie(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "shop.example.com"
	vr := &vars.Request{R: r}
	now := time.Unix(1700000000, 0)
	for _, tt := range []struct {
		name     string
		cfg      config.StickyCookie
		existing []string
	}{
		{"static, none before", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"}, nil},
		{"static, the application's before", config.StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"}, []string{"app=1"}},
		{"domain=$host, none before", config.StickyCookie{Name: "SERVERID", Domain: "$host"}, nil},
		{"domain=$host, the application's before", config.StickyCookie{Name: "SERVERID", Domain: "$host"}, []string{"app=1", "b=2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCookie(tt.cfg)
			want := c.SetCookie("blue", now, vr)
			for round := range 3 {
				h := http.Header{}
				if tt.existing != nil {
					h["Set-Cookie"] = append([]string(nil), tt.existing...)
				}
				c.AddSetCookie(h, "blue", now, vr)
				got := h["Set-Cookie"]
				if len(got) != len(tt.existing)+1 || got[len(got)-1] != want {
					t.Fatalf("round %d: Set-Cookie = %q, want %q then %q", round, got, tt.existing, want)
				}
				for i, v := range tt.existing {
					if got[i] != v {
						t.Fatalf("round %d: Set-Cookie[%d] = %q, want %q", round, i, got[i], v)
					}
				}
				// What a later filter does (add_header Set-Cookie) must
				// not reach the next response.
				h.Add("Set-Cookie", "later=1")
			}
		})
	}
}
