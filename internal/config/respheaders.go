package config

import (
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the directives that change the upstream's response
// header on its way to the client (ngx_http_proxy_module's
// proxy_hide_header, proxy_pass_header, proxy_redirect and
// proxy_cookie_*, and ngx_http_headers_module's expires), and NGINX
// Plus's status_zone. Values with variables are compiled by the proxy,
// which knows the variables; here they are checked and kept as written.

// DefaultHiddenHeaders are the upstream response fields nginx's proxy
// never passes on unless proxy_pass_header names them
// (ngx_http_proxy_hide_headers): limpet's own Date replaces the
// upstream's, and the X-Accel fields are instructions to nginx.
var DefaultHiddenHeaders = []string{"Date", "Server", "X-Pad", "X-Accel-Expires", "X-Accel-Redirect",
	"X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset"}

// Rewrite is one `proxy_redirect`, `proxy_cookie_path` or
// `proxy_cookie_domain` line: a value that begins with Pattern (or, for
// a cookie's domain, equals it), or that Regexp matches, is replaced by
// Replacement, in which the regex's captures ($1, ${name}) and variables
// expand.
type Rewrite struct {
	Pos Pos
	// Pattern is the literal prefix (it may hold variables); "" when
	// Regexp is set.
	Pattern string
	// Regexp is the "~" or "~*" pattern compiled; nil for a literal one.
	Regexp      *regexp.Regexp
	Replacement string
}

// CookieFlags is one `proxy_cookie_flags COOKIE FLAG ...` line.
type CookieFlags struct {
	Pos Pos
	// Name is the cookie's name (it may hold variables), compared
	// without case; "" when Regexp is set.
	Name string
	// Regexp is a "~" name compiled, caseless as nginx compiles it.
	Regexp *regexp.Regexp
	// Flags are secure, nosecure, httponly, nohttponly, samesite=strict,
	// samesite=lax, samesite=none and nosamesite, or values with variables
	// that expand to one of them.
	Flags []string
}

// Expires is the `expires` directive: the Expires and Cache-Control
// fields limpet sets on responses with status 200, 201, 204, 206, 301,
// 302, 303, 304, 307 or 308.
type Expires struct {
	Pos Pos
	// Off leaves the upstream's fields alone (the default).
	Off bool
	// Kind says what Time is: ExpiresAfter (now + Time, or Last-Modified
	// + Time with Modified), ExpiresDaily (the next time of day Time),
	// ExpiresEpoch or ExpiresMax; ExpiresVariable for a value with
	// variables, parsed per request.
	Kind     ExpiresKind
	Modified bool
	Time     time.Duration
	// Value is the argument as written, for ExpiresVariable.
	Value string
}

// ExpiresKind tells the forms of `expires` apart.
type ExpiresKind uint8

// The forms of `expires`.
const (
	ExpiresAfter ExpiresKind = iota
	ExpiresDaily
	ExpiresEpoch
	ExpiresMax
	ExpiresVariable
)

// headersConf is one level's response-header settings.
type headersConf struct {
	hide, pass       []string
	hideSet, passSet bool
	redirects        setting[[]Rewrite] // set with v nil means "off"
	cookiePaths      setting[[]Rewrite]
	cookieDomains    setting[[]Rewrite]
	cookieFlags      setting[[]CookieFlags]
	expires          setting[Expires]
	statusZone       setting[string]
}

// inherit fills what this level left unset from parent, as
// ngx_http_upstream_hide_headers_hash and the proxy module merge them:
// proxy_hide_header and proxy_pass_header each on its own.
func (h *headersConf) inherit(parent *headersConf) {
	if !h.hideSet {
		h.hide, h.hideSet = parent.hide, parent.hideSet
	}
	if !h.passSet {
		h.pass, h.passSet = parent.pass, parent.passSet
	}
	h.redirects.inherit(parent.redirects)
	h.cookiePaths.inherit(parent.cookiePaths)
	h.cookieDomains.inherit(parent.cookieDomains)
	h.cookieFlags.inherit(parent.cookieFlags)
	h.expires.inherit(parent.expires)
	// status_zone is not inherited: a server's zone counts the server's
	// requests, a location's those of that location only.
}

// ResponseHeaders are the effective response-header settings of a
// location or server.
type ResponseHeaders struct {
	// Hide are the upstream fields not passed to the client: nginx's
	// DefaultHiddenHeaders and the proxy_hide_header lines, without
	// those proxy_pass_header names; canonical names.
	Hide []string
	// Redirects are the proxy_redirect rules applied to the Location and
	// Refresh fields, the first that matches winning; none with
	// `proxy_redirect off`. Without any line, a proxying location has
	// nginx's default rule (see defaultRedirect).
	Redirects []Rewrite
	// CookiePaths and CookieDomains rewrite the path= and domain=
	// attributes of the upstream's Set-Cookie fields; CookieFlags sets
	// their flags, the first line whose name matches winning.
	CookiePaths   []Rewrite
	CookieDomains []Rewrite
	CookieFlags   []CookieFlags
	// Expires is the `expires` directive; Off by default.
	Expires Expires
	// StatusZone is the NGINX Plus status zone the requests are counted
	// in (`status_zone NAME`), "" for none.
	StatusZone string
}

// effective returns the merged settings. nginx's default proxy_redirect
// depends on the location's proxy_pass, so finishLocation adds it.
func (h *headersConf) effective() ResponseHeaders {
	rh := ResponseHeaders{
		CookiePaths:   h.cookiePaths.v,
		CookieDomains: h.cookieDomains.v,
		CookieFlags:   h.cookieFlags.v,
		Expires:       h.expires.or(Expires{Off: true}),
		StatusZone:    h.statusZone.v,
	}
	passed := make(map[string]bool, len(h.pass))
	for _, p := range h.pass {
		passed[textproto.CanonicalMIMEHeaderKey(p)] = true
	}
	for _, list := range [][]string{DefaultHiddenHeaders, h.hide} {
		for _, name := range list {
			if c := textproto.CanonicalMIMEHeaderKey(name); !passed[c] && !slices.Contains(rh.Hide, c) {
				rh.Hide = append(rh.Hide, c)
			}
		}
	}
	rh.Redirects = h.redirects.v
	return rh
}

// defaultRedirect is nginx's `proxy_redirect default`: the proxy_pass
// URL as written is replaced by the location's path when the URL has a
// URI, and URL + "/" by "/" when it has none.
func defaultRedirect(pp *ProxyPass, path string) Rewrite {
	if pp.HasURI {
		return Rewrite{Pos: pp.Pos, Pattern: pp.URL, Replacement: path}
	}
	return Rewrite{Pos: pp.Pos, Pattern: pp.URL + "/", Replacement: "/"}
}

// proxyHideHeader handles `proxy_hide_header FIELD`, one field a line.
func (b *builder) proxyHideHeader(d *Directive, s *scope) error {
	h := &s.proxy.resp
	h.hide, h.hideSet = append(h.hide, d.Args[0]), true
	return nil
}

// proxyPassHeader handles `proxy_pass_header FIELD`: a field of the
// default hidden list that is passed on after all.
func (b *builder) proxyPassHeader(d *Directive, s *scope) error {
	h := &s.proxy.resp
	h.pass, h.passSet = append(h.pass, d.Args[0]), true
	return nil
}

// proxyRedirect handles `proxy_redirect default | off | REDIRECT
// REPLACEMENT`, several lines adding up, with nginx's errors.
func (b *builder) proxyRedirect(d *Directive, s *scope) error {
	f := &s.proxy.resp.redirects
	if f.set && f.v == nil {
		return d.duplicate() // after "off"
	}
	if len(d.Args) == 1 {
		switch d.Args[0] {
		case "off":
			if f.set {
				return d.duplicate()
			}
			*f = setting[[]Rewrite]{set: true}
			return nil
		case "default":
			if s.loc == nil || s.loc.loc.ProxyPass == nil {
				return d.errorf("\"proxy_redirect default\" should be placed after the \"proxy_pass\" directive")
			}
			if s.loc.loc.ProxyPass.Target != "" {
				return d.errorf("\"proxy_redirect default\" cannot be used with \"proxy_pass\" directive with variables")
			}
			f.v = append(f.v, defaultRedirect(s.loc.loc.ProxyPass, s.loc.loc.Path))
			f.set = true
			return nil
		}
		return d.invalidParam(d.Args[0])
	}
	rw, err := parseRewrite(d, true)
	if err != nil {
		return err
	}
	f.v, f.set = append(f.v, rw), true
	return nil
}

// parseRewrite reads REDIRECT REPLACEMENT: "~" and "~*" (when tilde is
// allowed a case-sensitive regex, else always caseless, as
// proxy_cookie_domain's) begin a regex.
func parseRewrite(d *Directive, caseSensitive bool) (Rewrite, error) {
	rw := Rewrite{Pos: d.Pos(), Replacement: d.Args[1]}
	pat := d.Args[0]
	if rest, ok := strings.CutPrefix(pat, "~"); ok {
		caseless := !caseSensitive
		if r, star := strings.CutPrefix(rest, "*"); star && caseSensitive {
			rest, caseless = r, true
		}
		re, err := compileRegexp(d, rest, caseless)
		if err != nil {
			return rw, err
		}
		rw.Regexp = re
		return rw, nil
	}
	rw.Pattern = pat
	return rw, nil
}

// proxyCookieRewrite handles `proxy_cookie_path` and
// `proxy_cookie_domain`: off, or FROM TO, several lines adding up.
func (b *builder) proxyCookieRewrite(d *Directive, s *scope) error {
	f := &s.proxy.resp.cookiePaths
	if d.Name == "proxy_cookie_domain" {
		f = &s.proxy.resp.cookieDomains
	}
	if f.set && f.v == nil {
		return d.duplicate()
	}
	if len(d.Args) == 1 {
		if d.Args[0] != "off" {
			return d.invalidParam(d.Args[0])
		}
		if f.set {
			return d.duplicate()
		}
		*f = setting[[]Rewrite]{set: true}
		return nil
	}
	rw, err := parseRewrite(d, d.Name == "proxy_cookie_path")
	if err != nil {
		return err
	}
	if d.Name == "proxy_cookie_domain" && rw.Regexp == nil {
		// A leading dot is no part of a domain (RFC 6265 section 5.2.3).
		rw.Pattern = strings.TrimPrefix(rw.Pattern, ".")
		rw.Replacement = strings.TrimPrefix(rw.Replacement, ".")
	}
	f.v, f.set = append(f.v, rw), true
	return nil
}

// cookieFlagNames are proxy_cookie_flags' flags (nginx 1.19.3).
var cookieFlagNames = []string{"secure", "nosecure", "httponly", "nohttponly",
	"samesite=strict", "samesite=lax", "samesite=none", "nosamesite"}

// proxyCookieFlags handles `proxy_cookie_flags off | COOKIE [FLAG ...]`.
// nginx skips an unknown flag with a debug message; limpet refuses one
// written without variables, since it can only be a mistake.
func (b *builder) proxyCookieFlags(d *Directive, s *scope) error {
	f := &s.proxy.resp.cookieFlags
	if f.set && f.v == nil {
		return d.duplicate()
	}
	if len(d.Args) == 1 {
		if d.Args[0] != "off" {
			return d.invalidParam(d.Args[0])
		}
		if f.set {
			return d.duplicate()
		}
		*f = setting[[]CookieFlags]{set: true}
		return nil
	}
	cf := CookieFlags{Pos: d.Pos(), Name: d.Args[0], Flags: d.Args[1:]}
	if rest, ok := strings.CutPrefix(cf.Name, "~"); ok {
		re, err := compileRegexp(d, rest, true)
		if err != nil {
			return err
		}
		cf.Name, cf.Regexp = "", re
	}
	for _, fl := range cf.Flags {
		if !strings.Contains(fl, "$") && !slices.Contains(cookieFlagNames, strings.ToLower(fl)) {
			return d.invalidParam(fl)
		}
	}
	f.v, f.set = append(f.v, cf), true
	return nil
}

// expires handles `expires [modified] TIME | epoch | max | off`, nginx's
// ngx_http_headers_expires: TIME may be negative ("-1h"), "@15h30m" is a
// time of day, and a value with variables is parsed per request.
func (b *builder) expires(d *Directive, s *scope) error {
	f := &s.proxy.resp.expires
	if f.set {
		return d.duplicate()
	}
	e := Expires{Pos: d.Pos()}
	arg := d.Args[0]
	if len(d.Args) == 2 {
		if arg != "modified" {
			return d.invalidValue()
		}
		e.Modified = true
		arg = d.Args[1]
	}
	if strings.Contains(arg, "$") {
		e.Kind, e.Value = ExpiresVariable, arg
	} else {
		var why string
		if e, why = ParseExpires(arg, e); why != "" {
			return d.errorf("%q directive %s", d.Name, why)
		}
	}
	*f = setting[Expires]{v: e, set: true}
	return nil
}

// ParseExpires reads one value of `expires` into e, as nginx's
// ngx_http_parse_expires does; why is nginx's reason for a value it
// refuses, "" for a good one. The proxy calls it for values with
// variables.
func ParseExpires(v string, e Expires) (_ Expires, why string) {
	if !e.Modified {
		switch v {
		case "epoch":
			e.Kind = ExpiresEpoch
			return e, ""
		case "max":
			e.Kind = ExpiresMax
			return e, ""
		case "off":
			e.Off = true
			return e, ""
		}
	}
	neg := false
	switch {
	case strings.HasPrefix(v, "@"):
		if e.Modified {
			return e, `daily time cannot be used with "modified" parameter`
		}
		e.Kind, v = ExpiresDaily, v[1:]
	case strings.HasPrefix(v, "-"):
		neg, v = true, v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	}
	t, ok := parseTime(v, true)
	if !ok {
		return e, "invalid value"
	}
	if e.Kind == ExpiresDaily && t > 24*time.Hour {
		return e, "daily time value must be less than 24 hours"
	}
	if neg {
		t = -t
	}
	e.Time = t
	return e, ""
}

// statusZone handles NGINX Plus's `status_zone NAME` in server and
// location: the requests are counted under NAME.
func (b *builder) statusZone(d *Directive, s *scope) error {
	f := &s.proxy.resp.statusZone
	if f.set {
		return d.duplicate()
	}
	if strings.Contains(d.Args[0], "$") {
		// NGINX Plus takes variables since R33; limpet's zones are
		// fixed, so the set of series stays bounded.
		return d.errorf("variables in \"status_zone\" are not supported by limpet")
	}
	*f = setting[string]{v: d.Args[0], set: true}
	return nil
}

// String renders e as it would be written, for messages and tests.
func (e Expires) String() string {
	switch {
	case e.Off:
		return "off"
	case e.Kind == ExpiresEpoch:
		return "epoch"
	case e.Kind == ExpiresMax:
		return "max"
	case e.Kind == ExpiresVariable:
		return e.Value
	}
	s := strconv.FormatInt(int64(e.Time/time.Second), 10) + "s"
	if e.Kind == ExpiresDaily {
		s = "@" + s
	}
	if e.Modified {
		s = "modified " + s
	}
	return s
}

// proxyIgnoreClientAbort handles `proxy_ignore_client_abort on|off`:
// a second line at one level is nginx's duplicate; "on" is warned of
// (noEffect in directives.go).
func (b *builder) proxyIgnoreClientAbort(d *Directive, s *scope) error {
	if s.proxy.ignoreAbortSet {
		return d.duplicate()
	}
	s.proxy.ignoreAbortSet = true
	return nil
}
