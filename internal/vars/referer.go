package vars

import (
	"net/http"
	"regexp"
	"strings"
)

// Referers is a compiled valid_referers, what $invalid_referer checks a
// request's Referer against, as ngx_http_referer_variable does: without
// a Referer the request is valid with `none`; a Referer that starts with
// neither "http://" nor "https://" (or is shorter than "http://i.ru") is
// valid with `blocked`; otherwise its host (up to ':' or '/', without
// case) is looked up among the exact names, then the "*.example.com"
// wildcards (the longest first), then the "www.example.*" ones, and a
// host found must be followed by the URI prefix it was given with; then
// the server's regex names are tried on the host, and the "~regex"
// arguments on the whole Referer after its scheme. It is immutable.
type Referers struct {
	none, blocked bool
	// exact, head and tail map a host, a ".example.com" suffix or a
	// "www.example." prefix to the URI prefix its Referer's path must
	// start with ("" for any).
	exact, head, tail map[string]string
	// names are the server's regex server_names, tried on the host.
	names []*regexp.Regexp
	// regexps are the "~regex" arguments, tried on the Referer after its
	// scheme.
	regexps []*regexp.Regexp
}

// NewReferers starts a Referers; none and blocked are the keywords.
func NewReferers(none, blocked bool) *Referers {
	return &Referers{none: none, blocked: blocked, exact: make(map[string]string)}
}

// AddHost adds a host name or wildcard ("*.example.com", ".example.com",
// "www.example.*"), which the config package has checked, with the URI
// prefix the Referer's path must start with ("" for any). A host added
// twice keeps its first URI, as nginx's hash keeps its first key.
func (rf *Referers) AddHost(host, uri string) {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	add := func(m *map[string]string, k string) {
		if *m == nil {
			*m = make(map[string]string)
		}
		if _, ok := (*m)[k]; !ok {
			(*m)[k] = uri
		}
	}
	switch {
	case strings.HasPrefix(h, "*."):
		add(&rf.head, h[1:])
	case strings.HasPrefix(h, "."):
		add(&rf.exact, h[1:])
		add(&rf.head, h)
	case strings.HasSuffix(h, ".*"):
		add(&rf.tail, h[:len(h)-1])
	default:
		add(&rf.exact, h)
	}
}

// AddNameRegexp adds a regex server_name (valid_referers server_names),
// matched against the Referer's host in lower case.
func (rf *Referers) AddNameRegexp(re *regexp.Regexp) { rf.names = append(rf.names, re) }

// AddRegexp adds a "~regex" argument, already caseless, matched against
// the Referer after "http://" or "https://".
func (rf *Referers) AddRegexp(re *regexp.Regexp) { rf.regexps = append(rf.regexps, re) }

// maxRefererHost is the longest host nginx looks up (its buffer): a
// longer one is invalid.
const maxRefererHost = 256

// Invalid reports whether the Referer of h is not a valid one, which
// makes $invalid_referer "1". A nil Referers, or one with neither host
// nor regex, finds every request valid, as nginx does.
func (rf *Referers) Invalid(h http.Header) bool {
	if rf == nil || len(rf.exact) == 0 && rf.head == nil && rf.tail == nil && rf.names == nil && rf.regexps == nil {
		return false
	}
	vals, ok := h["Referer"]
	if !ok || len(vals) == 0 {
		return !rf.none
	}
	ref := vals[0]
	rest, ok := cutScheme(ref)
	if !ok {
		return !rf.blocked
	}
	end := strings.IndexAny(rest, "/:")
	if end < 0 {
		end = len(rest)
	}
	if end > maxRefererHost {
		return true
	}
	// strings.ToLower returns a host already in lower case as it is.
	host := strings.ToLower(rest[:end])
	if uri, found := rf.find(host); found {
		path := rest[end:]
		if i := strings.IndexByte(path, '/'); i >= 0 {
			path = path[i:]
		} else {
			path = ""
		}
		return !strings.HasPrefix(path, uri)
	}
	for _, re := range rf.names {
		if re.MatchString(host) {
			return false
		}
	}
	for _, re := range rf.regexps {
		if re.MatchString(rest) {
			return false
		}
	}
	return true
}

// cutScheme returns the Referer after "http://" or "https://" (without
// case), and false when it has neither or is shorter than "http://i.ru",
// as nginx checks.
func cutScheme(ref string) (string, bool) {
	if len(ref) < len("http://i.ru") {
		return "", false
	}
	switch {
	case strings.EqualFold(ref[:7], "http://"):
		return ref[7:], true
	case strings.EqualFold(ref[:8], "https://"):
		return ref[8:], true
	}
	return "", false
}

// find looks host (in lower case) up as ngx_hash_find_combined does: the
// exact names, then the longest head wildcard, then the longest tail one.
func (rf *Referers) find(host string) (string, bool) {
	if uri, ok := rf.exact[host]; ok {
		return uri, true
	}
	if rf.head != nil {
		for i := 0; i < len(host); i++ {
			if host[i] == '.' {
				if uri, ok := rf.head[host[i:]]; ok {
					return uri, true
				}
			}
		}
	}
	if rf.tail != nil {
		for i := len(host) - 1; i > 0; i-- {
			if host[i] == '.' {
				if uri, ok := rf.tail[host[:i+1]]; ok {
					return uri, true
				}
			}
		}
	}
	return "", false
}
