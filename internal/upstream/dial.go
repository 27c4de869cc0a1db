package upstream

import (
	"context"
	"net"
	"strings"
)

// UnixPrefix starts the address of a server on a unix-domain socket,
// "unix:/path", as nginx writes it in `server`, `proxy_pass` and
// $upstream_addr. The whole "unix:/path" is the server's address string:
// its ID is the MD5 of it, as nginx hashes the socket's printable name.
const UnixPrefix = "unix:"

// IsUnix reports whether addr is a unix-domain socket address, "unix:/path".
func IsUnix(addr string) bool { return strings.HasPrefix(addr, UnixPrefix) }

// Dial connects with d to addr over network, except that a unix-domain
// address is dialled over "unix" at its path. It takes the address both
// as limpet's own client hands it on ("unix:/path") and as the standard
// library's transport does, with the port it adds to every URL host
// ("[unix:/path]:80"), so the same call serves both. Errors are d's, a
// *net.OpError with Op "dial", which tells the proxy nothing was sent.
func Dial(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	if path, ok := unixPath(addr); ok {
		if strings.HasPrefix(path, "@") {
			// Go reads a leading '@' as Linux's abstract namespace;
			// nginx means the file of that name, relative.
			path = "./" + path
		}
		return d.DialContext(ctx, "unix", path)
	}
	return d.DialContext(ctx, network, addr)
}

// unixPath returns the socket path of a unix-domain address, bare or in
// the standard transport's "[unix:/path]:port" form.
func unixPath(addr string) (string, bool) {
	if strings.HasPrefix(addr, "["+UnixPrefix) {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	if !IsUnix(addr) {
		return "", false
	}
	return addr[len(UnixPrefix):], true
}
