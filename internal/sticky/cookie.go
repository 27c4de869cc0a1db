package sticky

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
	"github.com/limpet-lb/limpet/internal/vars"
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
	// with time, and a domain or samesite holding variables: "; max-age=3600;
	// domain=example.com; path=/; ...". With a variable domain it stops
	// before the domain and tail follows it.
	attrs string
	// domain and sameSite are set when those attributes hold variables
	// (nginx's complex values); they are expanded for every response.
	domain, sameSite *vars.Template
	// tail is the static attributes after a variable domain.
	tail    string
	expires time.Duration
	max     bool
	// enforce is enforce_expiry: values carry their expiry, "ID.EXPIRY"
	// with EXPIRY in Unix seconds, base 36.
	enforce bool
	// assignOnly is assign_only: the cookie only when a server is
	// assigned, not on every response.
	assignOnly bool

	// expiresCache holds the last formatted expires attribute, so that a
	// busy second formats the date once instead of on every response.
	expiresCache atomic.Pointer[formattedExpires]
	// sets holds, per server ID, the last Set-Cookie value of a cookie
	// without variables (*atomic.Pointer[formattedSet]): the value
	// changes at most once a second, and every response carries it, so a
	// busy server's returning users share one string instead of one each.
	// Its keys are the IDs of the servers that answered, which a
	// configuration bounds (a reload makes a new Cookie).
	sets sync.Map
}

type formattedSet struct {
	second int64
	value  string
	field  []string // {value}, for AddSetCookie; never written
}

type formattedExpires struct {
	second int64
	attr   string
}

// NewCookie is Compile for values known to be good, such as tests':
// it panics on an error.
func NewCookie(c config.StickyCookie) *Cookie {
	k, err := Compile(c)
	if err != nil {
		panic("sticky: " + err.Error())
	}
	return k
}

// Compile returns the persistence of a `sticky cookie` directive,
// compiling the variables of domain= and samesite= (nginx's complex
// values). The errors are in nginx's words, for the caller to add the
// directive's file and line: an unknown variable, or a samesite without
// variables that is not strict, lax or none.
func Compile(c config.StickyCookie) (*Cookie, error) { return CompileWith(c, nil) }

// CompileWith is Compile with the configuration's own variables (set,
// map, named captures) of g allowed in domain= and samesite=, as nginx
// allows them; a nil g allows only the builtin ones.
func CompileWith(c config.StickyCookie, g *vars.Registry) (*Cookie, error) {
	domain, err := g.Compile(c.Domain)
	if err != nil {
		return nil, err
	}
	sameSite, err := g.Compile(c.SameSite)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	switch {
	case c.ExpiresMax:
		b.WriteString("; max-age=" + strconv.Itoa(maxAgeMax))
	case c.Expires > 0:
		b.WriteString("; max-age=" + strconv.FormatInt(int64(c.Expires/time.Second), 10))
	}
	k := &Cookie{name: c.Name, expires: c.Expires, max: c.ExpiresMax, enforce: c.EnforceExpiry, assignOnly: c.AssignOnly}
	if t := domain; c.Domain != "" {
		if d, ok := t.Static(); ok {
			b.WriteString("; domain=" + d)
		} else {
			k.domain = t
			k.attrs = b.String()
			b.Reset()
		}
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
	if t := sameSite; c.SameSite != "" {
		if v, ok := t.Static(); ok {
			if !validSameSite([]byte(v)) {
				return nil, errors.New("invalid \"samesite\" parameter value")
			}
			b.WriteString("; samesite=" + v)
		} else {
			k.sameSite = t
		}
	}
	if k.domain != nil {
		k.tail = b.String()
	} else {
		k.attrs = b.String()
	}
	return k, nil
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

// Sends reports whether the response from answered to a request decided
// by d carries the cookie. As in nginx, every response from a server of a
// sticky upstream does, so that an expires= cookie slides while its user
// is active (and an enforce_expiry stamp is renewed); with assign_only
// only those whose user needs a new one (Decision.NeedsCookie).
func (c *Cookie) Sends(d *Decision, answered *upstream.Server) bool {
	if c.assignOnly {
		return d.NeedsCookie(answered)
	}
	return d.Outcome != None && answered != nil
}

// SetCookie returns the Set-Cookie header value that pins a user to the
// server with the given ID, for a response sent at now to the request r
// (for the variables of domain= and samesite=; nil expands them empty).
// With assign_only it is called only when Sends says so; it is also what
// renews the cookie on every response otherwise.
func (c *Cookie) SetCookie(id string, now time.Time, r *vars.Request) string {
	if c.domain != nil || c.sameSite != nil {
		return c.formatSetCookie(id, now, r)
	}
	return c.cachedSet(id, now, r).value
}

// AddSetCookie adds to h the Set-Cookie field SetCookie returns. When h
// has no Set-Cookie yet and the value is cached, h is given the cached
// one-value slice, capped so that a later append copies it: responses
// share it instead of allocating one each. Header slices are never
// written in place in limpet (respheaders.go copies before it rewrites).
func (c *Cookie) AddSetCookie(h http.Header, id string, now time.Time, r *vars.Request) {
	const name = "Set-Cookie"
	if c.domain != nil || c.sameSite != nil {
		h[name] = append(h[name], c.formatSetCookie(id, now, r))
		return
	}
	f := c.cachedSet(id, now, r)
	if old := h[name]; len(old) > 0 {
		h[name] = append(old, f.value)
		return
	}
	h[name] = f.field
}

// cachedSet returns the Set-Cookie of a cookie without variables for the
// server id: it depends only on the server and the second, so the last
// one made is reused.
func (c *Cookie) cachedSet(id string, now time.Time, r *vars.Request) *formattedSet {
	sec := now.Unix()
	v, ok := c.sets.Load(id)
	if !ok {
		v, _ = c.sets.LoadOrStore(id, new(atomic.Pointer[formattedSet]))
	}
	slot := v.(*atomic.Pointer[formattedSet])
	if f := slot.Load(); f != nil && f.second == sec {
		return f
	}
	value := c.formatSetCookie(id, now, r)
	f := &formattedSet{second: sec, value: value, field: []string{value}[:1:1]}
	slot.Store(f)
	return f
}

// formatSetCookie builds the Set-Cookie value. It is a function of its
// own so that its buffer, which escapes through AppendSetCookie, is
// allocated only when a value is made, not on every cached response.
func (c *Cookie) formatSetCookie(id string, now time.Time, r *vars.Request) string {
	var buf [256]byte
	return string(c.AppendSetCookie(buf[:0], id, now, r))
}

// AppendSetCookie appends what SetCookie returns to dst.
func (c *Cookie) AppendSetCookie(dst []byte, id string, now time.Time, r *vars.Request) []byte {
	dst = append(dst, c.name...)
	dst = append(dst, '=')
	dst = append(dst, id...)
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
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, exp.Unix(), 36)
	}
	dst = append(dst, c.expiresAttr(now)...)
	dst = append(dst, c.attrs...)
	if c.domain != nil {
		dst = appendAttr(dst, "; domain=", c.domain, r)
		dst = append(dst, c.tail...)
	}
	if c.sameSite != nil {
		n := len(dst)
		dst = appendAttr(dst, "; samesite=", c.sameSite, r)
		if v := dst[n:]; len(v) > len("; samesite=") && !validSameSite(v[len("; samesite="):]) {
			// nginx's choice for a value that is none of the three.
			dst = append(dst[:n], "; samesite=strict"...)
		}
	}
	return dst
}

// appendAttr appends prefix and t's expansion for r, or nothing when the
// expansion is empty (nginx leaves the attribute out) or would break the
// Set-Cookie line (a ';' or control character, from a client's Host or
// argument): the cookie is then sent without that attribute.
func appendAttr(dst []byte, prefix string, t *vars.Template, r *vars.Request) []byte {
	if r == nil {
		r = &noRequest
	}
	n := len(dst)
	dst = t.Append(append(dst, prefix...), r)
	v := dst[n+len(prefix):]
	if len(v) == 0 {
		return dst[:n]
	}
	for _, c := range v {
		if c < ' ' || c == 0x7f || c == ';' {
			return dst[:n]
		}
	}
	return dst
}

// noRequest expands variables empty, for SetCookie without a request.
var noRequest vars.Request

// validSameSite reports whether v is strict, lax or none, in any case, as
// nginx compares it.
func validSameSite(v []byte) bool {
	s := string(v) // no allocation: the comparison does not keep it
	return strings.EqualFold(s, "strict") || strings.EqualFold(s, "lax") || strings.EqualFold(s, "none")
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
