package config

// This file holds ngx_http_auth_request_module's directives, auth_request
// and auth_request_set, and the core module's satisfy. They are part of a
// level's access control (accessConf) and are merged with it, as nginx
// merges them from http to server to location.

// AuthRequestSet is one `auth_request_set $VAR VALUE;`: after the
// subrequest, VAR is set to VALUE expanded against the subrequest (its
// $upstream_http_NAME variables, typically).
type AuthRequestSet struct {
	Pos Pos
	// Var is the variable's name, without the "$".
	Var string
	// Value is the template, compiled by the proxy.
	Value string
}

// authRequestConf is one level's auth_request settings, as written there.
type authRequestConf struct {
	uri setting[string] // "" for off
	// sets are this level's auth_request_set lines; nil when it has
	// none. As in nginx, a level with any does not inherit the outer ones.
	sets []AuthRequestSet
}

// inherit fills what this level left unset from parent.
func (a *authRequestConf) inherit(parent *authRequestConf) {
	a.uri.inherit(parent.uri)
	if a.sets == nil {
		a.sets = parent.sets
	}
}

// authRequest handles `auth_request URI|off;`.
func (b *builder) authRequest(d *Directive, s *scope) error {
	f := &s.access.authRequest.uri
	if f.set {
		return d.duplicate()
	}
	uri := d.Args[0]
	if uri == "off" {
		uri = ""
	} else if uri == "" || uri[0] != '/' {
		// nginx would fail every request with 500 (its subrequest needs
		// a URI of this server); an error now says why.
		return d.errorf("invalid URI %q in \"auth_request\" directive: it must start with \"/\"", uri)
	}
	*f = setting[string]{v: uri, set: true}
	return nil
}

// authRequestSet handles `auth_request_set $VAR VALUE;`.
func (b *builder) authRequestSet(d *Directive, s *scope) error {
	name := d.Args[0]
	if len(name) < 2 || name[0] != '$' {
		return d.errorf("invalid variable name %q", name)
	}
	a := &s.access.authRequest
	a.sets = append(a.sets, AuthRequestSet{Pos: d.Pos(), Var: name[1:], Value: d.Args[1]})
	return nil
}

// satisfy handles `satisfy all|any;`. limpet applies every access check
// (allow/deny, auth_basic, auth_request), nginx's `all`; `any` is
// refused rather than read as `all`, which would lock out the clients it
// is meant to let in.
func (b *builder) satisfy(d *Directive, s *scope) error {
	switch d.Args[0] {
	case "all":
		return nil
	case "any":
		return d.errorf("\"satisfy any\" is not supported by limpet")
	}
	return d.errorf("invalid value %q in \"satisfy\" directive, it must be \"all\" or \"any\"", d.Args[0])
}
