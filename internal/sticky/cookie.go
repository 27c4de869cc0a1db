package sticky

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// maxExpires is what NGINX Plus writes for `expires=max`.
var maxExpires = time.Date(2037, time.December, 31, 23, 55, 55, 0, time.UTC)

// maxAgeMax is the Max-Age NGINX Plus writes for `expires=max` (ten years).
const maxAgeMax = 315360000

// Cookie is NGINX Plus's `sticky cookie NAME ...` persistence: the first
// response to a user carries a cookie naming its server, and later requests
// carrying it go to that server.
//
// The cookie's value is the server's ID (upstream.IDFor): the hex MD5 of
// its "ip:port" or its route= string, exactly what NGINX Plus writes, so it
// is stable across restarts and across limpet instances with the same
// configuration, reveals no address, and users keep their sessions when a
// site moves from NGINX Plus to limpet.
type Cookie struct {
	name string
	// attrs is everything after the value except expires, which changes
	// with time: "; max-age=3600; domain=example.com; path=/; ...".
	attrs   string
	expires time.Duration
	max     bool
	// enforce is enforce_expiry: values carry their expiry, "ID.EXPIRY"
	// with EXPIRY in Unix seconds, base 36.
	enforce bool

	// expiresCache holds the last formatted expires attribute, so that a
	// busy second formats the date once instead of on every new session.
	expiresCache atomic.Pointer[formattedExpires]
}

type formattedExpires struct {
	second int64
	attr   string
}

// NewCookie returns the persistence of a `sticky cookie` directive.
func NewCookie(c config.StickyCookie) *Cookie {
	var b strings.Builder
	switch {
	case c.ExpiresMax:
		b.WriteString("; max-age=" + strconv.Itoa(maxAgeMax))
	case c.Expires > 0:
		b.WriteString("; max-age=" + strconv.FormatInt(int64(c.Expires/time.Second), 10))
	}
	if c.Domain != "" {
		b.WriteString("; domain=" + c.Domain)
	}
	if c.Path != "" {
		b.WriteString("; path=" + c.Path)
	}
	if c.Secure {
		b.WriteString("; secure")
	}
	if c.HTTPOnly {
		b.WriteString("; httponly")
	}
	if c.SameSite != "" {
		b.WriteString("; samesite=" + c.SameSite)
	}
	return &Cookie{name: c.Name, attrs: b.String(), expires: c.Expires, max: c.ExpiresMax, enforce: c.EnforceExpiry}
}

// Name returns the cookie's name.
func (c *Cookie) Name() string { return c.name }

// Decide makes the persistence decision for r among the servers of pool
// at now. A missing, malformed, unknown or forged value is treated as no
// cookie at all: the user is balanced afresh, never refused.
func (c *Cookie) Decide(r *http.Request, pool *upstream.Pool, now time.Time) Decision {
	s, value, present, expiry := c.lookup(r, pool)
	switch {
	case s != nil && expiry != 0 && now.Unix() > expiry:
		return Decision{Outcome: New, Reason: Expired}
	case s == nil && !present:
		return Decision{Outcome: New, Reason: NoCookie}
	case s == nil && pool.WasRemoved(c.baseID(value)):
		return Decision{Outcome: Reassigned, Reason: ServerRemoved, CookieID: value}
	case s == nil:
		return Decision{Outcome: New, Reason: InvalidCookie}
	case !s.Available(now):
		return Decision{Outcome: Reassigned, Reason: unavailableReason(s, now), CookieID: s.ID}
	case s.Full():
		// Not a hit: the request goes where the balancer sends it, and
		// the cookie follows (NGINX Plus treats the full server as one
		// that cannot process the request).
		return Decision{Outcome: Reassigned, Reason: ServerFull, CookieID: s.ID}
	}
	s.RecordPinned(now)
	if s.Draining() {
		return Decision{Server: s, Outcome: Hit, Reason: Draining, CookieID: s.ID}
	}
	return Decision{Server: s, Outcome: Hit, CookieID: s.ID}
}

// unavailableReason says why a server that is not Available is not.
func unavailableReason(s *upstream.Server, now time.Time) Reason {
	switch s.State(now) {
	case upstream.StateUnhealthy, upstream.StateChecking:
		return ServerUnhealthy
	case upstream.StateUnavail:
		return ServerUnavailable
	}
	return ServerDown
}

// lookup returns the server named by the first cookie called c.name that
// names a server of pool, the value of the first such cookie, and whether
// the request carried a cookie of that name at all. A browser may send two cookies of one name (set for
// different paths); the one that names a server wins. It reads the Cookie
// header in place, without the allocations of http.Request.Cookies.
func (c *Cookie) lookup(r *http.Request, pool *upstream.Pool) (s *upstream.Server, first string, present bool, expiry int64) {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != c.name {
				continue
			}
			// A quoted value stays quoted, as nginx's $cookie_NAME
			// reads it: limpet never sets one, so it names no server.
			if !present {
				first, present = v, true
			}
			if s := pool.Lookup(v); s != nil {
				return s, v, true, 0
			}
			if c.enforce {
				if s, exp := c.stamped(v, pool); s != nil {
					return s, v, true, exp
				}
			}
		}
	}
	return nil, first, present, 0
}

// baseID returns the server ID part of a cookie value: the value itself,
// or with enforce_expiry the part before a valid stamp.
func (c *Cookie) baseID(v string) string {
	if !c.enforce {
		return v
	}
	dot := strings.LastIndexByte(v, '.')
	if dot < 0 {
		return v
	}
	if _, err := strconv.ParseInt(v[dot+1:], 36, 64); err != nil {
		return v
	}
	return v[:dot]
}

// stamped reads an enforce_expiry value, "ID.EXPIRY", returning its
// server and expiry, or nil. A value without a stamp (set before
// enforce_expiry was turned on, or by NGINX Plus) is found by Lookup
// before this is tried.
func (c *Cookie) stamped(v string, pool *upstream.Pool) (*upstream.Server, int64) {
	dot := strings.LastIndexByte(v, '.')
	if dot < 0 {
		return nil, 0
	}
	exp, err := strconv.ParseInt(v[dot+1:], 36, 64)
	if err != nil || exp <= 0 {
		return nil, 0
	}
	s := pool.Lookup(v[:dot])
	if s == nil {
		return nil, 0
	}
	return s, exp
}

// SetCookie returns the Set-Cookie header value that pins a user to the
// server with the given ID, for a response sent at now.
func (c *Cookie) SetCookie(id string, now time.Time) string {
	if c.enforce {
		exp := now.Add(c.expires)
		if c.max {
			// expires=max stamps NGINX Plus's date, and ten years on (the
			// max-age sent) once that date is near or past: a fixed date
			// would issue values already expired after 2037.
			exp = maxExpires
			if ten := now.Add(maxAgeMax * time.Second); ten.After(exp) {
				exp = ten
			}
		}
		id += "." + strconv.FormatInt(exp.Unix(), 36)
	}
	return c.name + "=" + id + c.expiresAttr(now) + c.attrs
}

// expiresAttr returns "; expires=DATE" for cookies with a lifetime, or ""
// for browser-session cookies. expires is written beside max-age because
// old browsers know only expires.
func (c *Cookie) expiresAttr(now time.Time) string {
	switch {
	case c.max:
		return "; expires=" + maxExpires.Format(http.TimeFormat)
	case c.expires <= 0:
		return ""
	}
	sec := now.Unix()
	if f := c.expiresCache.Load(); f != nil && f.second == sec {
		return f.attr
	}
	f := &formattedExpires{second: sec, attr: "; expires=" + time.Unix(sec, 0).Add(c.expires).UTC().Format(http.TimeFormat)}
	c.expiresCache.Store(f)
	return f.attr
}
