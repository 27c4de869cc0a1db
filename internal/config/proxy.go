package config

import (
	"slices"
	"strings"
	"time"
)

// This file holds the settings nginx merges from http to server to
// location (ngx_http_proxy_merge_loc_conf and friends): each level keeps
// what it sets, unset values are inherited once the whole tree is read,
// and defaults fill what no level set.

// Defaults of the merged settings, nginx's unless said otherwise.
const (
	defaultProxyTimeout     = 60 * time.Second
	defaultKeepaliveTimeout = 75 * time.Second
	defaultMaxBodySize      = 1 << 20 // 1m
	defaultNextUpstream     = NextError | NextTimeout
	// defaultAccessLog is stdout: nginx's logs/access.log needs a prefix
	// directory limpet does not have.
	defaultAccessLog = "stdout"
)

// setting is one value of one level, and whether that level set it,
// like nginx's NGX_CONF_UNSET.
type setting[T any] struct {
	v   T
	set bool
}

// inherit takes the parent's value when this level set none.
func (s *setting[T]) inherit(parent setting[T]) {
	if !s.set {
		*s = parent
	}
}

// or returns the value, or def when no level set it.
func (s setting[T]) or(def T) T {
	if s.set {
		return s.v
	}
	return def
}

// proxyConf is the proxy settings of one level (http, server or location).
type proxyConf struct {
	// headers are this level's proxy_set_header lines; headersSet tells
	// an inherited empty list from none, since a level with any line
	// does not inherit.
	headers    []Header
	headersSet bool
	// addHeaders are this level's add_header lines; a level with any
	// inherits none (ngx_http_headers_merge_conf).
	addHeaders []AddHeader
	// addTrailers are this level's add_trailer lines, inherited as
	// add_header's are.
	addTrailers []AddHeader
	// headersInherit and trailersInherit are add_header_inherit and
	// add_trailer_inherit (nginx 1.29.3): "on" (the default), "off" or
	// "merge".
	headersInherit  setting[string]
	trailersInherit setting[string]
	// realIP is set_real_ip_from, real_ip_header, real_ip_recursive.
	realIP realIPConf
	// pass is proxy_method and proxy_pass_request_* (passrequest.go).
	pass passConf
	// resp is what changes the upstream's response header, and
	// status_zone (respheaders.go).
	resp headersConf

	connectTimeout   setting[time.Duration]
	readTimeout      setting[time.Duration]
	sendTimeout      setting[time.Duration]
	keepaliveTimeout setting[time.Duration]
	keepaliveHeader  setting[time.Duration]
	nextUpstream     setting[NextUpstream] // set with v 0 means "off"
	nextTries        setting[int]
	nextTimeout      setting[time.Duration]
	maxBodySize      setting[int64]
	// httpVersion and buffering are kept only to refuse a second line:
	// limpet speaks HTTP/1.1 and streams, whatever they say (noEffect).
	httpVersion setting[string]
	buffering   setting[bool]
	accessLog   accessLogs
	stickyDebug setting[bool]
	// ssl is the proxy_ssl_* settings (upstreamssl.go).
	ssl sslConf

	// How a client's header is read (client.go): http and server only.
	clientHeaderBuffer   setting[int64]
	largeHeaderBuffers   setting[largeBuffers]
	maxHeaders           setting[int]
	underscoresInHeaders setting[bool]
	ignoreInvalidHeaders setting[bool]

	// client is the client side's timeouts and limits (client.go).
	client clientConf
	// redirects is absolute_redirect and its kin (redirect.go).
	redirects redirectConf
	// static is root, index, error_page and the other settings of
	// static files and error pages (static.go).
	static staticConf
	// ignoreAbortSet is proxy_ignore_client_abort seen at this level.
	ignoreAbortSet bool
	// HTTP/2 (http2.go): http and server only.
	http2 http2Conf
	// referers is valid_referers (referer.go).
	referers setting[*Referers]
}

// inherit fills what this level left unset from parent, which must be
// merged already.
func (p *proxyConf) inherit(parent *proxyConf) {
	if !p.headersSet {
		p.headers, p.headersSet = parent.headers, parent.headersSet
	}
	p.headersInherit.inherit(parent.headersInherit)
	p.trailersInherit.inherit(parent.trailersInherit)
	p.addHeaders = inheritLines(p.addHeaders, parent.addHeaders, p.headersInherit.or("on"))
	p.addTrailers = inheritLines(p.addTrailers, parent.addTrailers, p.trailersInherit.or("on"))
	p.resp.inherit(&parent.resp)
	p.realIP.inherit(&parent.realIP)
	p.pass.inherit(&parent.pass)
	p.connectTimeout.inherit(parent.connectTimeout)
	p.readTimeout.inherit(parent.readTimeout)
	p.sendTimeout.inherit(parent.sendTimeout)
	p.keepaliveTimeout.inherit(parent.keepaliveTimeout)
	p.keepaliveHeader.inherit(parent.keepaliveHeader)
	p.nextUpstream.inherit(parent.nextUpstream)
	p.nextTries.inherit(parent.nextTries)
	p.nextTimeout.inherit(parent.nextTimeout)
	p.maxBodySize.inherit(parent.maxBodySize)
	p.accessLog.inherit(parent.accessLog)
	p.stickyDebug.inherit(parent.stickyDebug)
	p.ssl.inherit(&parent.ssl)
	p.clientHeaderBuffer.inherit(parent.clientHeaderBuffer)
	p.largeHeaderBuffers.inherit(parent.largeHeaderBuffers)
	p.maxHeaders.inherit(parent.maxHeaders)
	p.underscoresInHeaders.inherit(parent.underscoresInHeaders)
	p.ignoreInvalidHeaders.inherit(parent.ignoreInvalidHeaders)
	p.client.inherit(&parent.client)
	p.redirects.inherit(&parent.redirects)
	p.static.inherit(&parent.static)
	p.http2.inherit(&parent.http2)
	p.referers.inherit(parent.referers)
}

// inheritLines is ngx_http_headers_merge_conf for one list: with "on" a
// level without lines of its own takes the outer level's, with "off" it
// never does, and with "merge" it takes them after its own.
func inheritLines(own, parent []AddHeader, mode string) []AddHeader {
	switch {
	case mode == "off" || len(parent) == 0:
		return own
	case len(own) == 0:
		return parent
	case mode == "merge":
		return append(slices.Clone(own), parent...)
	}
	return own
}

// effective returns the merged settings with defaults filled in.
func (p *proxyConf) effective() ProxySettings {
	headers := make([]Header, 0, len(p.headers)+1)
	headers = append(headers, p.headers...)
	hasHost := false
	for _, h := range headers {
		hasHost = hasHost || strings.EqualFold(h.Name, "Host")
	}
	if !hasHost {
		headers = append(headers, Header{Name: "Host", Value: "$proxy_host"})
	}
	logs := p.accessLog.effective()
	// No "Connection close" default as in nginx: limpet manages the
	// upstream Connection header itself (keep-alive pooling).
	return ProxySettings{
		SetHeaders:             headers,
		AddHeaders:             slices.Clone(p.addHeaders),
		AddTrailers:            slices.Clone(p.addTrailers),
		Response:               p.resp.effective(),
		RealIP:                 p.realIP.effective(),
		PassRequest:            p.pass.effective(),
		ConnectTimeout:         p.connectTimeout.or(defaultProxyTimeout),
		ReadTimeout:            p.readTimeout.or(defaultProxyTimeout),
		SendTimeout:            p.sendTimeout.or(defaultProxyTimeout),
		NextUpstream:           p.nextUpstream.or(defaultNextUpstream),
		NextUpstreamTries:      p.nextTries.or(0),
		NextUpstreamTimeout:    p.nextTimeout.or(0),
		ClientMaxBodySize:      p.maxBodySize.or(defaultMaxBodySize),
		AccessLogs:             logs,
		Client:                 p.client.effective(),
		StickyDebugHeader:      p.stickyDebug.or(false),
		KeepaliveTimeout:       p.keepaliveTimeout.or(defaultKeepaliveTimeout),
		KeepaliveHeaderTimeout: p.keepaliveHeader.or(0),
		Redirects:              p.redirects.effective(),
		SSL:                    p.ssl.effective(),
		Static:                 p.static.effective(),
		Referers:               p.referers.v,
	}
}

// The slot handlers below set one typed value, like nginx's
// ngx_conf_set_*_slot functions: the directive table names the field, the
// slot parses, refuses a second value at the same level, and stores.

// slot is the shape every slot shares: refuse a second value at the same
// level, parse the one argument, store it. parse returns the error to
// report for a bad value, already naming the directive's file and line.
func slot[T any](field func(*proxyConf) *setting[T], parse func(d *Directive) (T, error)) handler {
	return func(b *builder, d *Directive, s *scope) error {
		f := field(s.proxy)
		if f.set {
			return d.duplicate()
		}
		v, err := parse(d)
		if err != nil {
			return err
		}
		*f = setting[T]{v: v, set: true}
		return nil
	}
}

// msecSlot stores a time in milliseconds mode ("500ms", "30s", "1h").
func msecSlot(field func(*proxyConf) *setting[time.Duration]) handler {
	return slot(field, func(d *Directive) (time.Duration, error) {
		if v, ok := parseTime(d.Args[0], false); ok {
			return v, nil
		}
		return 0, d.invalidValue()
	})
}

// numSlot stores a non-negative integer.
func numSlot(field func(*proxyConf) *setting[int]) handler {
	return slot(field, func(d *Directive) (int, error) {
		if v, ok := parseInt(d.Args[0]); ok {
			return v, nil
		}
		return 0, d.errorf("%q directive invalid number", d.Name)
	})
}

// sizeSlot stores a size in bytes ("1024", "8k", "1m", "1g").
func sizeSlot(field func(*proxyConf) *setting[int64]) handler {
	return slot(field, func(d *Directive) (int64, error) {
		if v, ok := parseSize(d.Args[0]); ok {
			return v, nil
		}
		return 0, d.invalidValue()
	})
}

// enumSlot stores one of a fixed set of words.
func enumSlot(field func(*proxyConf) *setting[string], values ...string) handler {
	return slot(field, func(d *Directive) (string, error) {
		if slices.Contains(values, d.Args[0]) {
			return d.Args[0], nil
		}
		return "", d.invalidArg(d.Args[0])
	})
}

// flagSlot stores on/off; the table's argsFlag rule has checked the word.
func flagSlot(field func(*proxyConf) *setting[bool]) handler {
	return slot(field, func(d *Directive) (bool, error) {
		return strings.EqualFold(d.Args[0], "on"), nil
	})
}

// proxySetHeader handles `proxy_set_header FIELD VALUE`, adding to this
// level's list (which then stops inheriting the outer one).
func (b *builder) proxySetHeader(d *Directive, s *scope) error {
	p := s.proxy
	p.headers = append(p.headers, Header{Pos: d.Pos(), Name: d.Args[0], Value: d.Args[1]})
	p.headersSet = true
	return nil
}

// addHeader handles `add_header NAME VALUE [always]` and `add_trailer
// NAME VALUE [always]`, adding to this
// level's list (which then stops inheriting the outer one). nginx takes
// any name; here it must be an HTTP token, since Go's server would drop
// any other without a word.
func (b *builder) addHeader(d *Directive, s *scope) error {
	h := AddHeader{Pos: d.Pos(), Name: d.Args[0], Value: d.Args[1]}
	if len(d.Args) == 3 {
		if d.Args[2] != "always" {
			return d.invalidParam(d.Args[2])
		}
		h.Always = true
	}
	if !isToken(h.Name) {
		return d.errorf("invalid header name %q in %q directive", h.Name, d.Name)
	}
	if d.Name == "add_trailer" {
		s.proxy.addTrailers = append(s.proxy.addTrailers, h)
		return nil
	}
	s.proxy.addHeaders = append(s.proxy.addHeaders, h)
	return nil
}

// keepaliveTimeout handles `keepalive_timeout TIME [HEADER_TIME]`; the
// header time is in seconds, as nginx reads it. The two are one
// setting: a level that sets the first without the second sends no
// header, whatever its parent says.
func (b *builder) keepaliveTimeout(d *Directive, s *scope) error {
	p := s.proxy
	if p.keepaliveTimeout.set {
		return d.duplicate()
	}
	v, ok := parseTime(d.Args[0], false)
	if !ok {
		return d.invalidValue()
	}
	if len(d.Args) == 2 {
		h, ok := parseTime(d.Args[1], true)
		if !ok {
			return d.invalidValue()
		}
		p.keepaliveHeader = setting[time.Duration]{v: h}
	}
	p.keepaliveTimeout = setting[time.Duration]{v: v, set: true}
	p.keepaliveHeader.set = true
	return nil
}

// nextUpstreamNames maps proxy_next_upstream's words to conditions.
var nextUpstreamNames = map[string]NextUpstream{
	"error":          NextError,
	"timeout":        NextTimeout,
	"invalid_header": NextInvalidHeader,
	"http_500":       NextHTTP500,
	"http_502":       NextHTTP502,
	"http_503":       NextHTTP503,
	"http_504":       NextHTTP504,
	"http_403":       NextHTTP403,
	"http_404":       NextHTTP404,
	"http_429":       NextHTTP429,
	"non_idempotent": NextNonIdempotent,
}

// proxyNextUpstream handles `proxy_next_upstream COND ... | off`. As in
// nginx, several lines at one level add up. nginx lets "off" silently
// win over other words; here "off" must stand alone, since mixing it with
// conditions can only be a mistake.
func (b *builder) proxyNextUpstream(d *Directive, s *scope) error {
	var mask NextUpstream
	off := false
	for _, a := range d.Args {
		if a == "off" {
			off = true
			continue
		}
		c, ok := nextUpstreamNames[a]
		if !ok {
			return d.invalidArg(a)
		}
		mask |= c
	}
	if off && len(d.Args) > 1 {
		return d.invalidArg("off")
	}
	f := &s.proxy.nextUpstream
	if f.set && (off || f.v == 0) {
		return d.duplicate()
	}
	*f = setting[NextUpstream]{v: f.v | mask, set: true}
	return nil
}
