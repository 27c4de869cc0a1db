package router

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// VirtualHosts chooses among the servers that share one listen address,
// by the Host of the request, in nginx's order (ngx_http_find_virtual_server):
//
//  1. the exact name;
//  2. the longest wildcard starting with an asterisk ("*.example.com"),
//     ".example.com" counting as both "example.com" and "*.example.com";
//  3. the longest wildcard ending with an asterisk ("mail.*");
//  4. the first matching regular expression ("~^www\d+\."), in
//     configuration order;
//  5. the default server.
//
// A VirtualHosts is immutable and safe for concurrent use.
type VirtualHosts struct {
	// exact holds exact names, and the bare domain of ".example.com"
	// names, lowercased; the first server to claim a name keeps it, as
	// nginx keeps the first and warns "conflicting server name".
	exact map[string]*config.Server
	// head maps "example.com" to the server of "*.example.com" or
	// ".example.com": hosts strictly under that domain.
	head map[string]*config.Server
	// tail maps "mail" to the server of "mail.*".
	tail map[string]*config.Server
	// regexes in configuration order.
	regexes []regexName
	def     *config.Server
}

// regexName is one compiled "~regex" server name.
type regexName struct {
	re  *regexp.Regexp
	srv *config.Server
}

// NewVirtualHosts takes the servers on one listen address in configuration
// order and the index of the default one (-1 for the first, which is
// nginx's default when no listen has default_server).
//
// A server without names has the name "", nginx's default since 0.8.48,
// so that it takes requests without a Host header. "$hostname" stands for
// the machine's host name, as in nginx.
func NewVirtualHosts(servers []*config.Server, defaultIndex int) (*VirtualHosts, error) {
	if len(servers) == 0 {
		return nil, errors.New("no servers for the listen address")
	}
	if defaultIndex < -1 || defaultIndex >= len(servers) {
		return nil, fmt.Errorf("default server index %d out of range for %d servers", defaultIndex, len(servers))
	}
	if defaultIndex == -1 {
		defaultIndex = 0
	}
	v := &VirtualHosts{
		exact: make(map[string]*config.Server),
		head:  make(map[string]*config.Server),
		tail:  make(map[string]*config.Server),
		def:   servers[defaultIndex],
	}
	for _, srv := range servers {
		if srv == nil {
			return nil, errors.New("nil server")
		}
		names := srv.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, name := range names {
			if err := v.add(srv, name); err != nil {
				return nil, fmt.Errorf("%w in %s", err, srv.Pos)
			}
		}
	}
	return v, nil
}

// add files one server name under the right kind.
func (v *VirtualHosts) add(srv *config.Server, name string) error {
	if strings.HasPrefix(name, "~") {
		// config compiled it (one compile, with nginx's errors and
		// its caseless rule).
		re := srv.NameRegexps[name]
		if re == nil {
			return fmt.Errorf("regex server name %q is not compiled", name)
		}
		v.regexes = append(v.regexes, regexName{re: re, srv: srv})
		return nil
	}
	if strings.EqualFold(name, "$hostname") {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("server name %q: %w", name, err)
		}
		name = h
	}
	name = lowerASCII(name)
	stars := strings.Count(name, "*")
	switch {
	case stars == 0 && strings.HasPrefix(name, "."):
		if len(name) < 2 {
			return fmt.Errorf("server name %q is invalid", name)
		}
		claim(v.exact, name[1:], srv)
		claim(v.head, name[1:], srv)
	case stars == 0:
		claim(v.exact, name, srv)
	case stars == 1 && strings.HasPrefix(name, "*.") && len(name) > 2:
		claim(v.head, name[2:], srv)
	case stars == 1 && strings.HasSuffix(name, ".*") && len(name) > 2:
		claim(v.tail, name[:len(name)-2], srv)
	default:
		return fmt.Errorf("invalid server name or wildcard %q", name)
	}
	return nil
}

// claim sets m[k] unless an earlier server has it.
func claim(m map[string]*config.Server, k string, srv *config.Server) {
	if _, ok := m[k]; !ok {
		m[k] = srv
	}
}

// Select returns the server for a Host header value (or HTTP/2
// :authority), which may carry a port and any case; "" is a request
// without Host. It never returns nil. Select does not allocate unless the
// host holds upper-case letters or a regex name has to be tried.
func (v *VirtualHosts) Select(host string) *config.Server {
	h := hostKey(host)
	if srv, ok := v.exact[h]; ok {
		return srv
	}
	if h == "" {
		return v.def
	}
	if len(v.head) > 0 {
		// The longest suffix first: "a.b.example.com" tries
		// "b.example.com", then "example.com", then "com".
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				if srv, ok := v.head[h[i+1:]]; ok {
					return srv
				}
			}
		}
	}
	if len(v.tail) > 0 {
		// The longest prefix first: "mail.example.com" tries
		// "mail.example", then "mail".
		for i := len(h) - 1; i > 0; i-- {
			if h[i] == '.' {
				if srv, ok := v.tail[h[:i]]; ok {
					return srv
				}
			}
		}
	}
	for _, rn := range v.regexes {
		if rn.re.MatchString(h) {
			return rn.srv
		}
	}
	return v.def
}

// Default returns the default server, the one that takes requests whose
// Host matches no name.
func (v *VirtualHosts) Default() *config.Server { return v.def }

// hostKey normalizes a Host value as ngx_http_validate_host does before
// the lookup: port and one trailing dot removed, lowercased. It allocates
// only when there is an upper-case letter to lower.
func hostKey(h string) string {
	return lowerASCII(vars.HostName(h))
}

// lowerASCII lowers the ASCII letters of s and nothing else, as nginx's
// ngx_strlow does for server names and hosts. strings.ToLower would not
// do: it lowers non-ASCII letters too (the Kelvin sign "\u212a" becomes
// "k") and turns every invalid UTF-8 byte into U+FFFD, so two different
// names or a name and a host could collide. It allocates only when there
// is an upper-case letter to lower.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
