package httpsyntax

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// hostGrammar is ngx_http_validate_host's grammar written as a regular
// expression: a host name of letters, digits, unreserved, sub-delims and
// '%', or a bracketed literal (':' but no '%'), then an optional port.
// The rules a regular expression says badly are checked beside it in
// referenceHost.
var hostGrammar = regexp.MustCompile(`^(\[[A-Za-z0-9:._~!$&'()*+,;=-]*\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(:([0-9]*))?$`)

// referenceHost is a second, plainer reading of nginx's rule, for the
// differential fuzz test.
func referenceHost(s string) bool {
	m := hostGrammar.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	host, port := m[1], m[3]
	if strings.Contains(host, "..") {
		return false
	}
	if port != "" {
		// nginx stops at the digit that would pass 65535; leading
		// zeros are only zeros.
		if n, err := strconv.ParseUint(strings.TrimLeft(port, "0"), 10, 32); err == nil && n > 65535 || err != nil && strings.TrimLeft(port, "0") != "" {
			return false
		}
	}
	host = strings.TrimSuffix(host, ".")
	return host != ""
}

func FuzzClientHost(f *testing.F) {
	for _, s := range []string{
		"example.com", "Example.COM:8080", "example.com.", ".example.com", "host:", "[::1]:80",
		"", ".", "..example.com", "host:98777", "a:9000:80", "[::1", "[::1]x", "a b", "a..b",
		"host:0000000000080", "[1.2..3]", "a%zz", "_:65535",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ClientHost(s)
		if want := referenceHost(s); got != want {
			t.Fatalf("ClientHost(%q) = %v, the grammar says %v", s, got, want)
		}
		if got && !ValidHost(s) {
			t.Fatalf("ClientHost(%q) accepts what ValidHost refuses", s)
		}
	})
}
