package config

import (
	"net/netip"
	"net/textproto"
	"strings"
)

// This file holds ngx_http_realip_module's directives: the client address
// taken from a header that trusted proxies send, so $remote_addr, the
// access rules, the limits, ip_hash and the logs see the client behind
// them.

// RealIP is the effective real-IP setting of a location or server.
type RealIP struct {
	// From are the trusted addresses (set_real_ip_from); none means the
	// module is off: $remote_addr is the connection's peer.
	From []netip.Prefix
	// Header is real_ip_header's field, canonical ("X-Real-Ip" by
	// default, or "X-Forwarded-For", or any other).
	Header string
	// Recursive is real_ip_recursive: the address taken is the last one
	// of the list that is not trusted, not simply the last one.
	Recursive bool
}

// realIPConf is one level's real-IP directives.
type realIPConf struct {
	from      []netip.Prefix
	fromSet   bool
	header    setting[string]
	recursive setting[bool]
}

func (c *realIPConf) inherit(parent *realIPConf) {
	if !c.fromSet {
		c.from, c.fromSet = parent.from, parent.fromSet
	}
	c.header.inherit(parent.header)
	c.recursive.inherit(parent.recursive)
}

func (c *realIPConf) effective() RealIP {
	return RealIP{From: c.from, Header: textproto.CanonicalMIMEHeaderKey(c.header.or("X-Real-IP")), Recursive: c.recursive.or(false)}
}

// setRealIPFrom handles `set_real_ip_from ADDRESS | CIDR | unix:`, a
// trusted address a line; a host name stands for its addresses, as nginx
// resolves it. "unix:" is accepted and warned about (noEffect): limpet
// listens on TCP only.
func (b *builder) setRealIPFrom(d *Directive, s *scope) error {
	c := &s.proxy.realIP
	arg := d.Args[0]
	c.fromSet = true
	if arg == "unix:" {
		return nil
	}
	if p, err := netip.ParsePrefix(arg); err == nil {
		if p.Masked() != p {
			b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: d.Pos(), Msg: "low address bits of " + arg + " are meaningless"})
		}
		c.from = append(c.from, p.Masked())
		return nil
	}
	if strings.Contains(arg, "/") {
		return d.invalidParam(arg)
	}
	addrs, err := b.resolve(arg)
	if err != nil {
		return d.errorf("host not found in set_real_ip_from %q", arg)
	}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return d.errorf("host not found in set_real_ip_from %q", arg)
		}
		ip = ip.Unmap()
		c.from = append(c.from, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return nil
}

// realIPHeader handles `real_ip_header FIELD | X-Real-IP |
// X-Forwarded-For | proxy_protocol`; limpet reads no PROXY protocol.
func (b *builder) realIPHeader(d *Directive, s *scope) error {
	f := &s.proxy.realIP.header
	if f.set {
		return d.duplicate()
	}
	if d.Args[0] == "proxy_protocol" {
		return d.errorf("\"real_ip_header proxy_protocol\" is not supported by limpet: it reads no PROXY protocol")
	}
	if !isToken(d.Args[0]) {
		return d.invalidArg(d.Args[0])
	}
	*f = setting[string]{v: d.Args[0], set: true}
	return nil
}

// realIPRecursive handles `real_ip_recursive on | off`.
func (b *builder) realIPRecursive(d *Directive, s *scope) error {
	f := &s.proxy.realIP.recursive
	if f.set {
		return d.duplicate()
	}
	*f = setting[bool]{v: strings.EqualFold(d.Args[0], "on"), set: true}
	return nil
}
