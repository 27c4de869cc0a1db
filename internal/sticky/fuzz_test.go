package sticky

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// decideOn is Decide for a request carrying the Cookie header line header.
func decideOn(c *Cookie, header string, now time.Time) Decision {
	pool, _, _ := testPool()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", header)
	return c.Decide(r, pool, now)
}

// FuzzEnforceExpiry covers the enforce_expiry values, "ID.EXPIRY" with
// EXPIRY in base 36, from both sides:
//   - whatever the client sends, Decide only hits a server whose ID the
//     header holds, and a hit on a stamped value is never past its stamp;
//   - what SetCookie issues reads back with net/http as one cookie of the
//     right name, and Decide finds its server until the stamp and not
//     after it.
func FuzzEnforceExpiry(f *testing.F) {
	_, a, _ := testPool()
	f.Add("SERVERID="+a.ID+".1", int64(1_700_000_000), int64(3600), false, false)
	f.Add("SERVERID=blue.zzzzzzzzzzzzz", int64(0), int64(1), false, true)
	f.Add("SERVERID=blue.-1; SERVERID=blue.", int64(1), int64(-5), true, true)
	f.Add(`SERVERID="blue.ab"`, int64(2_200_000_000), int64(315360000), true, false)
	f.Add("SERVERID=."+strconv.FormatInt(1_700_000_000, 36), int64(1_700_000_000), int64(60), false, false)
	f.Fuzz(func(t *testing.T, header string, nowSec, expiresSec int64, expMax, pickRoute bool) {
		// A clock between 1970 and the year 3000, and lifetimes from one
		// second to ten years: what a configuration can say.
		now := time.Unix(nowSec&(1<<35-1), 0)
		expires := time.Duration(1+(expiresSec&(1<<62-1))%315360000) * time.Second
		c := NewCookie(config.StickyCookie{Name: "SERVERID", Expires: expires, ExpiresMax: expMax, EnforceExpiry: true})

		d := decideOn(c, header, now)
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

		_, a, b := testPool()
		s := a
		if pickRoute {
			s = b
		}
		set := c.SetCookie(s.ID, now, nil)
		parsed, err := http.ParseSetCookie(set)
		if err != nil || parsed.Name != "SERVERID" {
			t.Fatalf("SetCookie = %q, net/http reads %+v, %v", set, parsed, err)
		}
		id, stamp, ok := strings.Cut(parsed.Value, ".")
		if !ok || id != s.ID {
			t.Fatalf("value %q does not carry %q and a stamp", parsed.Value, s.ID)
		}
		exp, err := strconv.ParseInt(stamp, 36, 64)
		if err != nil || exp <= now.Unix() {
			t.Fatalf("stamp %q of %q at %d: %d, %v", stamp, parsed.Value, now.Unix(), exp, err)
		}
		// The client sends it back as browsers do, in a Cookie header.
		back := http.Cookie{Name: parsed.Name, Value: parsed.Value}
		if d := decideOn(c, back.String(), now); d.Outcome != Hit || d.Server.ID != s.ID {
			t.Fatalf("issued %q, decided %q on it at once", set, d.Label())
		}
		if d := decideOn(c, back.String(), time.Unix(exp, 0)); d.Outcome != Hit {
			t.Fatalf("issued %q, decided %q at its stamp", set, d.Label())
		}
		if d := decideOn(c, back.String(), time.Unix(exp+1, 0)); d.Label() != "new/expired" {
			t.Fatalf("issued %q, decided %q after its stamp", set, d.Label())
		}
		if !expMax {
			if want := now.Add(expires).Unix(); exp != want {
				t.Fatalf("stamp %d, want now+expires %d", exp, want)
			}
		}
	})
}

// FuzzSetCookieRoundTrip checks that without enforce_expiry the value
// issued is the server ID itself, that net/http reads the Set-Cookie line
// back with the configured attributes, and that Decide maps it back to
// the server.
func FuzzSetCookieRoundTrip(f *testing.F) {
	f.Add("SERVERID", int64(3600), "example.com", "/", "lax", true, true)
	f.Add("s", int64(0), "", "", "", false, false)
	f.Add("route", int64(-1), ".a.b", "/app", "strict", false, true)
	f.Fuzz(func(t *testing.T, name string, expiresSec int64, domain, path, sameSite string, secure, pickRoute bool) {
		// The config builder accepts only cookie tokens and plain attribute
		// values; stay within what it lets through, and leave variables
		// (which it compiles) to TestSetCookieVariables.
		if !isCookieToken(name) || !isAttrValue(domain) || !isAttrValue(path) || !isAttrValue(sameSite) ||
			strings.Contains(domain+sameSite, "$") || sameSite != "" && !validSameSite([]byte(sameSite)) {
			return
		}
		expires := time.Duration(expiresSec&(1<<62-1)%315360000) * time.Second
		c := NewCookie(config.StickyCookie{Name: name, Expires: expires, Domain: domain, Path: path, Secure: secure, SameSite: sameSite})
		_, a, b := testPool()
		s := a
		if pickRoute {
			s = b
		}
		now := time.Unix(1_700_000_000, 0)
		set := c.SetCookie(s.ID, now, nil)
		parsed, err := http.ParseSetCookie(set)
		if err != nil || parsed.Name != name || parsed.Value != s.ID || parsed.Secure != secure ||
			parsed.Domain != domain || parsed.Path != path {
			t.Fatalf("SetCookie = %q, net/http reads %+v, %v", set, parsed, err)
		}
		if expires > 0 && parsed.MaxAge != int(expires/time.Second) {
			t.Fatalf("SetCookie = %q: max-age %d, want %d", set, parsed.MaxAge, expires/time.Second)
		}
		back := http.Cookie{Name: parsed.Name, Value: parsed.Value}
		if d := decideOn(c, "other=1; "+back.String(), now); d.Outcome != Hit || d.Server.ID != s.ID {
			t.Fatalf("issued %q, decided %q on it", set, d.Label())
		}
	})
}

func isCookieToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func isAttrValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == ';' || c == '"' || c == '\\' || c == ',' {
			return false
		}
	}
	return true
}
