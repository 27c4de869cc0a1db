package proxy

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file changes the upstream's response header on its way to the
// client, as ngx_http_proxy_module does: proxy_hide_header and
// proxy_pass_header, proxy_redirect on Location and Refresh, and
// proxy_cookie_path, proxy_cookie_domain and proxy_cookie_flags on
// Set-Cookie; and it sets expires (ngx_http_headers_module) on every
// response, as add_header does.

// respRules are a location's compiled response-header rules.
type respRules struct {
	// hide is the set of upstream fields not passed on, canonical names.
	hide map[string]struct{}
	// redirects rewrite Location and Refresh; cookies the Set-Cookie
	// fields. nil when there are none, so the request path skips them.
	redirects []rewriteRule
	cookies   *cookieRules
	// trailers are the add_trailer lines, nil for none.
	trailers []addHeader
}

// cookieRules are the proxy_cookie_* rules of a location.
type cookieRules struct {
	paths, domains []rewriteRule
	flags          []cookieFlagRule
}

// rewriteRule is one compiled proxy_redirect, proxy_cookie_path or
// proxy_cookie_domain line.
type rewriteRule struct {
	re      *regexp.Regexp
	pattern *vars.Template
	repl    replacement
	// domain compares the whole value without case, a leading dot
	// aside, as ngx_http_proxy_rewrite_domain_handler does.
	domain bool
}

// replacement is a REPLACEMENT value: variables, and the captures of the
// rule's regex ($1 … $9, ${1}, $name of a named group).
type replacement struct {
	parts []replPart
}

type replPart struct {
	tpl     *vars.Template // nil for a capture
	capture int
}

// compileReplacement splits s into the rule's captures and templates of
// variables; re is nil for a literal rule, which has no captures.
func compileReplacement(s string, re *regexp.Regexp) (replacement, error) {
	var r replacement
	names := map[string]int{}
	if re != nil {
		for i, n := range re.SubexpNames() {
			if n != "" {
				names[n] = i
			}
		}
	}
	lit := 0 // start of the text not yet compiled
	flush := func(end int) error {
		if end > lit {
			t, err := vars.Compile(s[lit:end])
			if err != nil {
				return err
			}
			r.parts = append(r.parts, replPart{tpl: t})
		}
		return nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || re == nil {
			continue
		}
		name, end := s[i+1:], i+1
		braced := strings.HasPrefix(name, "{")
		if braced {
			j := strings.IndexByte(name, '}')
			if j < 0 {
				continue // vars.Compile reports it
			}
			name, end = name[1:j], i+2+j
		} else if name != "" && name[0] >= '0' && name[0] <= '9' {
			// An unbraced capture is one digit, as in nginx: "$10" is
			// $1 and a "0".
			name, end = name[:1], i+2
		} else {
			j := 0
			for j < len(name) && isNameByte(name[j]) {
				j++
			}
			name, end = name[:j], i+1+j
		}
		idx, ok := -1, false
		if n, err := strconv.Atoi(name); err == nil && n >= 0 && n <= 9 && len(name) == 1 {
			idx, ok = n, true
		} else if k, found := names[name]; found {
			idx, ok = k, true
		}
		if !ok {
			continue
		}
		if err := flush(i); err != nil {
			return r, err
		}
		r.parts = append(r.parts, replPart{capture: idx})
		lit, i = end, end-1
	}
	if err := flush(len(s)); err != nil {
		return r, err
	}
	return r, nil
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// expand returns the replacement for value, whose regex match is m (nil
// for a literal rule).
func (r *replacement) expand(value string, m []int, vr *vars.Request) string {
	if len(r.parts) == 1 && r.parts[0].tpl != nil {
		return r.parts[0].tpl.Expand(vr)
	}
	var b []byte
	for _, p := range r.parts {
		switch {
		case p.tpl != nil:
			b = p.tpl.Append(b, vr)
		case 2*p.capture+1 < len(m) && m[2*p.capture] >= 0:
			b = append(b, value[m[2*p.capture]:m[2*p.capture+1]]...)
		}
	}
	return string(b)
}

func compileRewrites(list []config.Rewrite, domain bool) ([]rewriteRule, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]rewriteRule, 0, len(list))
	for _, rw := range list {
		rule := rewriteRule{re: rw.Regexp, domain: domain && rw.Regexp == nil}
		var err error
		if rw.Regexp == nil {
			if rule.pattern, err = vars.Compile(rw.Pattern); err != nil {
				return nil, &config.Error{Pos: rw.Pos, Msg: err.Error()}
			}
		}
		if rule.repl, err = compileReplacement(rw.Replacement, rw.Regexp); err != nil {
			return nil, &config.Error{Pos: rw.Pos, Msg: err.Error()}
		}
		out = append(out, rule)
	}
	return out, nil
}

// apply rewrites value from offset prefix on, as the handlers of
// ngx_http_proxy_rewrite_* do: a literal pattern replaces the prefix it
// matches, a regex replaces all of the rest, a domain the whole domain.
func (rule *rewriteRule) apply(value string, prefix int, vr *vars.Request) (string, bool) {
	rest := value[prefix:]
	switch {
	case rule.re != nil:
		m := rule.re.FindStringSubmatchIndex(rest)
		if m == nil {
			return value, false
		}
		return value[:prefix] + rule.repl.expand(rest, m, vr), true
	case rule.domain:
		if strings.HasPrefix(rest, ".") {
			prefix++
			rest = rest[1:]
		}
		if !strings.EqualFold(rest, rule.pattern.Expand(vr)) {
			return value, false
		}
		return value[:prefix] + rule.repl.expand(rest, nil, vr), true
	}
	pat := rule.pattern.Expand(vr)
	if !strings.HasPrefix(rest, pat) {
		return value, false
	}
	return value[:prefix] + rule.repl.expand(rest, nil, vr) + rest[len(pat):], true
}

// rewriteFirst applies the first rule of rules that matches.
func rewriteFirst(rules []rewriteRule, value string, prefix int, vr *vars.Request) (string, bool) {
	for i := range rules {
		if v, ok := rules[i].apply(value, prefix, vr); ok {
			return v, true
		}
	}
	return value, false
}

// cookieFlagRule is one compiled proxy_cookie_flags line.
type cookieFlagRule struct {
	re    *regexp.Regexp
	name  *vars.Template
	flags []*vars.Template
}

// The flags of proxy_cookie_flags, as nginx's masks: an "on" flag wins
// over its "off" twin when both are given.
const (
	flagSecureOn = 1 << iota
	flagSecureOff
	flagHTTPOnlyOn
	flagHTTPOnlyOff
	flagSameSiteStrict
	flagSameSiteLax
	flagSameSiteNone
	flagSameSiteOff
)

var cookieFlagBits = map[string]int{
	"secure": flagSecureOn, "nosecure": flagSecureOff,
	"httponly": flagHTTPOnlyOn, "nohttponly": flagHTTPOnlyOff,
	"samesite=strict": flagSameSiteStrict, "samesite=lax": flagSameSiteLax,
	"samesite=none": flagSameSiteNone, "nosamesite": flagSameSiteOff,
}

func compileRespRules(g *vars.Registry, ps config.ProxySettings) (*respRules, error) {
	rh := ps.Response
	r := &respRules{hide: make(map[string]struct{}, len(rh.Hide))}
	for _, h := range rh.Hide {
		r.hide[h] = struct{}{}
	}
	var err error
	if r.redirects, err = compileRewrites(rh.Redirects, false); err != nil {
		return nil, err
	}
	if r.trailers, err = compileAddHeaders(g, ps.AddTrailers); err != nil {
		return nil, err
	}
	if len(rh.CookiePaths)+len(rh.CookieDomains)+len(rh.CookieFlags) == 0 {
		return r, nil
	}
	c := &cookieRules{}
	if c.paths, err = compileRewrites(rh.CookiePaths, false); err != nil {
		return nil, err
	}
	if c.domains, err = compileRewrites(rh.CookieDomains, true); err != nil {
		return nil, err
	}
	for _, cf := range rh.CookieFlags {
		rule := cookieFlagRule{re: cf.Regexp}
		if cf.Regexp == nil {
			if rule.name, err = g.Compile(cf.Name); err != nil {
				return nil, &config.Error{Pos: cf.Pos, Msg: err.Error()}
			}
		}
		for _, f := range cf.Flags {
			t, err := g.Compile(f)
			if err != nil {
				return nil, &config.Error{Pos: cf.Pos, Msg: err.Error()}
			}
			rule.flags = append(rule.flags, t)
		}
		c.flags = append(c.flags, rule)
	}
	r.cookies = c
	return r, nil
}

// rewrite applies proxy_redirect and proxy_cookie_* to h, the upstream's
// fields about to go to the client.
func (r *respRules) rewrite(h http.Header, vr *vars.Request) {
	if r.redirects != nil {
		r.rewriteLocation(h, vr)
	}
	if r.cookies != nil && len(h["Set-Cookie"]) > 0 {
		r.cookies.rewriteCookies(h, vr)
	}
}

// rewriteLocation applies proxy_redirect to the Location and Refresh
// fields of h.
func (r *respRules) rewriteLocation(h http.Header, vr *vars.Request) {
	if v := h["Location"]; len(v) > 0 {
		if nv, ok := rewriteFirst(r.redirects, v[0], 0, vr); ok {
			if strings.HasPrefix(nv, "/") {
				nv = absoluteLocation(nv, vr)
			}
			h["Location"] = []string{nv}
		}
	}
	if v := h["Refresh"]; len(v) > 0 {
		if i := indexFold(v[0], "url="); i >= 0 {
			if nv, ok := rewriteFirst(r.redirects, v[0], i+len("url="), vr); ok {
				h["Refresh"] = []string{nv}
			}
		}
	}
}

// absoluteLocation makes the path a rewritten Location became absolute,
// as nginx's header filter does with absolute_redirect and
// port_in_redirect on and server_name_in_redirect off, its defaults: the
// client's host name, else the local address, and the local port unless
// it is the scheme's default.
func absoluteLocation(path string, vr *vars.Request) string {
	host := ""
	if vr.R != nil {
		host = strings.ToLower(vars.HostName(vr.R.Host))
	}
	if host == "" {
		host = vr.Local.Addr().String()
		if vr.Local.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	scheme, def := "http", uint16(80)
	if vr.Scheme == "https" {
		scheme, def = "https", 443
	}
	if p := vr.Local.Port(); p != 0 && p != def {
		host += ":" + strconv.Itoa(int(p))
	}
	return scheme + "://" + host + path
}

// indexFold is strings.Index without case, for an ASCII needle.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// cookieAttr is one "key=value" (or bare "key") of a Set-Cookie field;
// the first is the cookie's name and value.
type cookieAttr struct {
	key, value string
	hasValue   bool
	drop       bool
}

// parseSetCookie splits a Set-Cookie value at ";" as
// ngx_http_proxy_parse_cookie does, trimming spaces around keys and
// values.
func parseSetCookie(v string) []cookieAttr {
	var attrs []cookieAttr
	for part := range strings.SplitSeq(v, ";") {
		k, val, has := strings.Cut(part, "=")
		attrs = append(attrs, cookieAttr{key: strings.Trim(k, " "), value: strings.Trim(val, " "), hasValue: has})
	}
	return attrs
}

// rewriteCookie applies the proxy_cookie_* rules to one Set-Cookie
// value; ok is false when nothing changed.
func (c *cookieRules) rewriteCookie(v string, vr *vars.Request) (string, bool) {
	attrs := parseSetCookie(v)
	if !attrs[0].hasValue {
		return v, false // not a cookie nginx would touch
	}
	changed := false
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		if !a.hasValue {
			continue
		}
		var rules []rewriteRule
		switch {
		case strings.EqualFold(a.key, "domain"):
			rules = c.domains
		case strings.EqualFold(a.key, "path"):
			rules = c.paths
		}
		if nv, ok := rewriteFirst(rules, a.value, 0, vr); ok {
			a.value, changed = nv, true
		}
	}
	if len(c.flags) > 0 {
		var ok bool
		if attrs, ok = c.applyFlags(attrs, vr); ok {
			changed = true
		}
	}
	if !changed {
		return v, false
	}
	var b strings.Builder
	first := true
	for _, a := range attrs {
		if a.drop {
			continue
		}
		if !first {
			b.WriteString("; ")
		}
		first = false
		b.WriteString(a.key)
		if a.hasValue {
			b.WriteString("=" + a.value)
		}
	}
	return b.String(), true
}

// applyFlags is ngx_http_proxy_rewrite_cookie_flags: the first rule
// whose name matches the cookie's sets, removes or changes its Secure,
// HttpOnly and SameSite attributes.
func (c *cookieRules) applyFlags(attrs []cookieAttr, vr *vars.Request) ([]cookieAttr, bool) {
	name := attrs[0].key
	var rule *cookieFlagRule
	for i := range c.flags {
		r := &c.flags[i]
		if r.re != nil && r.re.MatchString(name) || r.re == nil && strings.EqualFold(r.name.Expand(vr), name) {
			rule = r
			break
		}
	}
	if rule == nil {
		return attrs, false
	}
	f := 0
	for _, t := range rule.flags {
		f |= cookieFlagBits[strings.ToLower(t.Expand(vr))]
	}
	if f == 0 {
		return attrs, false
	}
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		switch {
		case strings.EqualFold(a.key, "secure"):
			if f&flagSecureOn != 0 {
				f &^= flagSecureOn
			} else if f&flagSecureOff != 0 {
				a.drop = true
			}
		case strings.EqualFold(a.key, "httponly"):
			if f&flagHTTPOnlyOn != 0 {
				f &^= flagHTTPOnlyOn
			} else if f&flagHTTPOnlyOff != 0 {
				a.drop = true
			}
		case strings.EqualFold(a.key, "samesite"):
			set := func(bit int, v string) {
				f &^= bit
				if !strings.EqualFold(a.value, v) {
					a.key, a.value, a.hasValue = "SameSite", v, true
				}
			}
			switch {
			case f&flagSameSiteStrict != 0:
				set(flagSameSiteStrict, "Strict")
			case f&flagSameSiteLax != 0:
				set(flagSameSiteLax, "Lax")
			case f&flagSameSiteNone != 0:
				set(flagSameSiteNone, "None")
			case f&flagSameSiteOff != 0:
				a.drop = true
			}
		}
	}
	if f&flagSecureOn != 0 {
		attrs = append(attrs, cookieAttr{key: "Secure"})
	}
	if f&flagHTTPOnlyOn != 0 {
		attrs = append(attrs, cookieAttr{key: "HttpOnly"})
	}
	switch {
	case f&flagSameSiteStrict != 0:
		attrs = append(attrs, cookieAttr{key: "SameSite", value: "Strict", hasValue: true})
	case f&flagSameSiteLax != 0:
		attrs = append(attrs, cookieAttr{key: "SameSite", value: "Lax", hasValue: true})
	case f&flagSameSiteNone != 0:
		attrs = append(attrs, cookieAttr{key: "SameSite", value: "None", hasValue: true})
	}
	return attrs, true
}

// rewriteCookies applies the cookie rules to every Set-Cookie of h. The
// upstream's slice is copied before the first change, never written.
func (c *cookieRules) rewriteCookies(h http.Header, vr *vars.Request) {
	lines, copied := h["Set-Cookie"], false
	for i, v := range lines {
		if nv, ok := c.rewriteCookie(v, vr); ok {
			if !copied {
				lines, copied = slices.Clone(lines), true
				h["Set-Cookie"] = lines
			}
			lines[i] = nv
		}
	}
}

// expiresRule is a compiled `expires`.
type expiresRule struct {
	e   config.Expires
	tpl *vars.Template // for a value with variables
}

func compileExpires(g *vars.Registry, e config.Expires) (*expiresRule, error) {
	if e.Off {
		return nil, nil
	}
	r := &expiresRule{e: e}
	if e.Kind == config.ExpiresVariable {
		t, err := g.Compile(e.Value)
		if err != nil {
			return nil, &config.Error{Pos: e.Pos, Msg: err.Error()}
		}
		r.tpl = t
	}
	return r, nil
}

// apply sets Expires and Cache-Control on h as ngx_http_set_expires does,
// for a response with a status add_header applies to.
func (r *expiresRule) apply(h http.Header, code int, now time.Time, vr *vars.Request) {
	if !addHeaderStatus(code) {
		return
	}
	e := r.e
	if r.tpl != nil {
		var why string
		if e, why = config.ParseExpires(r.tpl.Expand(vr), config.Expires{Modified: e.Modified}); why != "" || e.Off {
			return
		}
	}
	switch e.Kind {
	case config.ExpiresEpoch:
		h["Expires"] = []string{"Thu, 01 Jan 1970 00:00:01 GMT"}
		h["Cache-Control"] = []string{"no-cache"}
		return
	case config.ExpiresMax:
		h["Expires"] = []string{"Thu, 31 Dec 2037 23:55:55 GMT"}
		h["Cache-Control"] = []string{"max-age=315360000"}
		return
	}
	now = now.Truncate(time.Second)
	if e.Time == 0 && e.Kind != config.ExpiresDaily {
		h["Expires"] = []string{now.UTC().Format(http.TimeFormat)}
		h["Cache-Control"] = []string{"max-age=0"}
		return
	}
	var at time.Time
	var maxAge time.Duration
	lm, lmErr := http.ParseTime(first(h["Last-Modified"]))
	switch {
	case e.Kind == config.ExpiresDaily:
		at = nextTimeOfDay(now, e.Time)
		maxAge = at.Sub(now)
	case !e.Modified || lmErr != nil:
		at, maxAge = now.Add(e.Time), e.Time
	default:
		at = lm.Add(e.Time)
		maxAge = at.Sub(now)
	}
	h["Expires"] = []string{at.UTC().Format(http.TimeFormat)}
	if e.Time < 0 || maxAge < 0 {
		h["Cache-Control"] = []string{"no-cache"}
		return
	}
	h["Cache-Control"] = []string{"max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// nextTimeOfDay is ngx_next_time: the next moment, in local time, that
// is tod after midnight, today's if it is still ahead.
func nextTimeOfDay(now time.Time, tod time.Duration) time.Time {
	y, m, d := now.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, now.Location()).Add(tod)
	if !t.After(now) {
		t = time.Date(y, m, d+1, 0, 0, 0, 0, now.Location()).Add(tod)
	}
	return t
}

// addTrailers sets the add_trailer fields on h, the header of a response
// with status code whose body has been sent: the server writes them
// after the last chunk of a chunked response and drops them from one of
// known length, which is when nginx sends them. Values expand now, at the
// end of the response.
func addTrailers(list []addHeader, h http.Header, code int, vr *vars.Request) {
	safe := addHeaderStatus(code)
	for i := range list {
		t := &list[i]
		if !safe && !t.always {
			continue
		}
		if v := t.value.Expand(vr); v != "" {
			h[http.TrailerPrefix+t.name] = append(h[http.TrailerPrefix+t.name], v)
		}
	}
}
