package config

import "strings"

// unixPrefix starts a unix-domain socket address, as nginx writes it.
const unixPrefix = "unix:"

// maxUnixPath is the longest socket path Linux's sockaddr_un holds: 108
// bytes of sun_path, one of them the terminating NUL nginx counts too.
const maxUnixPath = 107

// isUnixAddr reports whether an address is written as a unix-domain
// socket, "unix:/path". nginx matches the prefix in lower case only.
func isUnixAddr(s string) bool { return strings.HasPrefix(s, unixPrefix) }

// parseUnixAddr checks a unix-domain address, "unix:PATH", as
// ngx_parse_unix_domain_url does: with uriPart (proxy_pass), the path ends
// at the first ':' after the prefix and what follows it is the URI (an empty one
// is none, as in nginx); otherwise the whole rest is the path. addr is "unix:PATH",
// the socket's printable name nginx uses in $upstream_addr and hashes for
// the server's sticky ID. msg is nginx's complaint, or "".
func parseUnixAddr(s string, uriPart bool) (addr, uri, msg string) {
	path := s[len(unixPrefix):]
	if uriPart {
		if i := strings.IndexByte(path, ':'); i >= 0 {
			path, uri = path[:i], path[i+1:]
		}
	}
	switch {
	case path == "":
		return "", "", "no path in the unix domain socket"
	case len(path) > maxUnixPath:
		return "", "", "too long path in the unix domain socket"
	}
	return unixPrefix + path, uri, ""
}

// addUnixServer adds a `server unix:/path` line's server to u. There is
// nothing to resolve, so `resolve` changes nothing, as nginx parses such a
// line (ngx_http_upstream_server: a unix address already has its one
// address); `service=` is refused with nginx's words, which come from the
// unix address counting as one with a port there.
func addUnixServer(d *Directive, u *Upstream, srv *UpstreamServer, resolve bool, addr string) error {
	if srv.Service != "" {
		if !resolve {
			return d.errorf("service upstream %q requires \"resolve\" parameter", srv.Name)
		}
		return d.errorf("service upstream %q may not have port", srv.Name)
	}
	srv.Addr = addr
	u.Servers = append(u.Servers, srv)
	return nil
}

// proxyPassUnix handles `proxy_pass http://unix:/path[:URI]`, whose rest
// (after "http://") starts with "unix:". The socket is the implicit
// upstream's one server; there is nothing to resolve and no upstream
// block to look up, since nginx always reads such a URL as a socket.
// Host, which names the implicit upstream, is the address "unix:/path";
// the proxy sends "localhost" as $proxy_host for it, as nginx does.
func (b *builder) proxyPassUnix(d *Directive, loc *Location, url, rest string) error {
	addr, uri, msg := parseUnixAddr(rest, true)
	if msg != "" {
		return d.errorf("%s in upstream %q", msg, rest)
	}
	if uri != "" && loc.Regexp != nil {
		return d.errorf("\"proxy_pass\" cannot have URI part in location given by regular expression, " +
			"or inside named location, or inside \"if\" statement, or inside \"limit_except\" block")
	}
	loc.ProxyPass = &ProxyPass{Pos: d.Pos(), URL: url, Scheme: "http", HasURI: uri != "", URI: uri, Host: addr, Addr: addr}
	return nil
}

// listenUnix refuses `listen unix:/path`: limpet's clients come over TCP
// only, since the proxy, the access rules, ip_hash, the limits and the
// logs all key on the client's IP address. A bad address gets nginx's
// complaint first.
func listenUnix(d *Directive, written string) error {
	if _, _, msg := parseUnixAddr(written, false); msg != "" {
		return d.errorf("%s in %q of the \"listen\" directive", msg, written)
	}
	return d.errorf("listening on a unix domain socket (%q) is not supported by limpet", written)
}
