package config

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// This file holds access control: allow and deny
// (ngx_http_access_module), auth_basic and auth_basic_user_file
// (ngx_http_auth_basic_module), and the limit_except block that applies
// them to some methods only. Each is merged from http to server to
// location as nginx merges it.

// accessConf is the access control of one level (http, server, location
// or limit_except), as written there.
type accessConf struct {
	// rules are this level's allow and deny lines; nil when it has none.
	// As in nginx, a level with any rule does not inherit the outer ones.
	rules     []AccessRule
	authBasic setting[string] // "" for off
	userFile  setting[userFile]
	// authRequest is auth_request and auth_request_set (authrequest.go).
	authRequest authRequestConf
}

// userFile is auth_basic_user_file's path (absolute) and position.
type userFile struct {
	path string
	pos  Pos
}

// inherit fills what this level left unset from parent, which must be
// merged already. auth_basic and auth_basic_user_file inherit each on its
// own, as in nginx.
func (a *accessConf) inherit(parent *accessConf) {
	if a.rules == nil {
		a.rules = parent.rules
	}
	a.authBasic.inherit(parent.authBasic)
	a.userFile.inherit(parent.userFile)
	a.authRequest.inherit(&parent.authRequest)
}

// effective returns the merged access control; the rules are a copy, so
// no two levels share a list.
func (a *accessConf) effective() Access {
	uf := a.userFile.or(userFile{})
	return Access{
		Rules:             slices.Clone(a.rules),
		AuthBasic:         a.authBasic.or(""),
		AuthBasicUserFile: uf.path,
		AuthPos:           uf.pos,
		AuthRequest:       a.authRequest.uri.or(""),
		AuthRequestSet:    slices.Clone(a.authRequest.sets),
	}
}

// accessRule handles `allow ADDRESS|CIDR|unix:|all;` and `deny ...;`.
func (b *builder) accessRule(d *Directive, s *scope) error {
	r := AccessRule{Pos: d.Pos(), Allow: d.Name == "allow"}
	v := d.Args[0]
	switch {
	case v == "all":
		r.All = true
	case v == "unix:":
		// Exactly "unix:", as nginx: "unix:/path" is an invalid
		// parameter below.
		r.Unix = true
	default:
		p, ok := parseCIDR(v)
		if !ok {
			return d.invalidParam(v)
		}
		r.Prefix = p
	}
	s.access.rules = append(s.access.rules, r)
	return nil
}

// parseCIDR reads an address ("10.0.0.1", "::1", a single host) or a
// CIDR ("10.0.0.0/8", "2001:db8::/32"). Host bits set in a CIDR are
// cleared: nginx warns "low address bits of 10.0.0.1/8 are meaningless"
// and does the same. Zones ("fe80::1%eth0") are refused.
func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// authBasic handles `auth_basic REALM|off;`.
func (b *builder) authBasic(d *Directive, s *scope) error {
	f := &s.access.authBasic
	if f.set {
		return d.duplicate()
	}
	realm := d.Args[0]
	switch realm {
	case "off":
		realm = ""
	case "":
		// nginx would ask for credentials with an empty realm; limpet
		// keeps "" for off, so an empty realm is refused, not turned off.
		return d.invalidArg(realm)
	}
	*f = setting[string]{v: realm, set: true}
	return nil
}

// authBasicUserFile handles `auth_basic_user_file FILE;`. The file is
// not read here: the access control reads it when limpet starts, and
// reports its errors at AuthPos.
func (b *builder) authBasicUserFile(d *Directive, s *scope) error {
	f := &s.access.userFile
	if f.set {
		return d.duplicate()
	}
	path := d.Args[0]
	switch {
	case path == "":
		return d.invalidArg(path)
	case strings.Contains(path, "$"):
		return d.errorf("variables in auth_basic_user_file are not supported")
	case !filepath.IsAbs(path):
		// Relative to the main file's directory, as nginx's are to its
		// configuration prefix.
		path = filepath.Join(b.dir, path)
	}
	*f = setting[userFile]{v: userFile{path: path, pos: d.Pos()}, set: true}
	return nil
}

// limitMethods are the methods limit_except knows: nginx's list.
var limitMethods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
	"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH",
}

// limitExceptConf is a limit_except block and its access control as
// written; it merges with its location's like a nested location.
type limitExceptConf struct {
	le     *LimitExcept
	access accessConf
}

// limitExcept handles `limit_except METHOD ... { ... }`: requests with
// other methods must also pass the block's access control. Methods are
// compared without case, as nginx compares them; GET implies HEAD.
func (b *builder) limitExcept(d *Directive, s *scope) error {
	lc := s.loc
	if lc.limitExcept != nil {
		return d.duplicate()
	}
	le := &LimitExcept{Pos: d.Pos()}
	for _, a := range d.Args {
		m := strings.ToUpper(a)
		if !slices.Contains(limitMethods, m) {
			return d.errorf("invalid method %q", a)
		}
		adds := []string{m}
		if m == "GET" {
			adds = append(adds, "HEAD")
		}
		for _, add := range adds {
			if !slices.Contains(le.Methods, add) {
				le.Methods = append(le.Methods, add)
			}
		}
	}
	lec := &limitExceptConf{le: le}
	lc.limitExcept = lec
	lc.loc.LimitExcept = le
	return b.walk(d.Block, &scope{where: inLimitExcept, access: &lec.access})
}
