package config

import "strings"

// This file holds the proxy directives that shape what of the client's
// request goes upstream: proxy_method, proxy_pass_request_headers and
// proxy_pass_request_body (ngx_http_proxy_module).

// PassRequest is the effective setting of those directives.
type PassRequest struct {
	// Method replaces the client's method when not "" (`proxy_method`);
	// it may hold variables.
	Method string
	// NoHeaders is `proxy_pass_request_headers off`: only the fields
	// proxy_set_header sets (and Host) go upstream.
	NoHeaders bool
	// NoBody is `proxy_pass_request_body off`: the request goes upstream
	// without its body.
	NoBody bool
}

type passConf struct {
	method          setting[string]
	headers, bodies setting[bool]
}

func (c *passConf) inherit(parent *passConf) {
	c.method.inherit(parent.method)
	c.headers.inherit(parent.headers)
	c.bodies.inherit(parent.bodies)
}

func (c *passConf) effective() PassRequest {
	return PassRequest{Method: c.method.or(""), NoHeaders: !c.headers.or(true), NoBody: !c.bodies.or(true)}
}

// proxyMethod handles `proxy_method METHOD`; nginx takes any word, and
// variables since 1.11.6. A word without variables must be an HTTP
// token, since it is written as the request's method.
func (b *builder) proxyMethod(d *Directive, s *scope) error {
	f := &s.proxy.pass.method
	if f.set {
		return d.duplicate()
	}
	if !strings.Contains(d.Args[0], "$") && !isToken(d.Args[0]) {
		return d.invalidArg(d.Args[0])
	}
	*f = setting[string]{v: d.Args[0], set: true}
	return nil
}

// proxyPassRequest handles `proxy_pass_request_headers on | off` and
// `proxy_pass_request_body on | off`; both default to on.
func (b *builder) proxyPassRequest(d *Directive, s *scope) error {
	f := &s.proxy.pass.headers
	if d.Name == "proxy_pass_request_body" {
		f = &s.proxy.pass.bodies
	}
	if f.set {
		return d.duplicate()
	}
	*f = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}
	return nil
}
