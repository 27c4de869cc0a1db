package vars

import (
	"regexp"
	"strings"
)

// Map is a compiled `map SOURCE $VAR { ... }`: its source, its keys and
// their values, searched as ngx_http_map_find searches: the exact keys,
// then (with hostnames) the longest "*.example.com"/".example.com"
// wildcard, then the longest "example.*" one, then the regexes in the
// order written. Exact and wildcard keys are compared without case.
type Map struct {
	source    *Template
	hostnames bool
	exact     map[string]*Template
	head      map[string]*Template // ".example.com" → value, for "*.example.com" and ".example.com"
	tail      map[string]*Template // "example." → value, for "example.*"
	regexps   []mapRegexp
	def       *Template
}

type mapRegexp struct {
	re    *regexp.Regexp
	slots []int
	value *Template
}

// NewMap starts a map of source; hostnames makes its keys host names.
func NewMap(source *Template, hostnames bool) *Map {
	return &Map{source: source, hostnames: hostnames, exact: make(map[string]*Template)}
}

// SetDefault sets the value when nothing matches; without one it is "".
func (m *Map) SetDefault(v *Template) { m.def = v }

// Add adds a string key (with hostnames, maybe a wildcard). The config
// package has already refused conflicting and malformed keys.
func (m *Map) Add(key string, v *Template) {
	k := strings.ToLower(key)
	if !m.hostnames {
		m.exact[k] = v
		return
	}
	k = strings.TrimSuffix(k, ".")
	switch {
	case strings.HasPrefix(k, "*."):
		m.addHead(k[1:], v)
	case strings.HasPrefix(k, "."):
		m.exact[k[1:]] = v
		m.addHead(k, v)
	case strings.HasSuffix(k, ".*"):
		if m.tail == nil {
			m.tail = make(map[string]*Template)
		}
		m.tail[k[:len(k)-1]] = v
	default:
		m.exact[k] = v
	}
}

func (m *Map) addHead(suffix string, v *Template) {
	if m.head == nil {
		m.head = make(map[string]*Template)
	}
	m.head[suffix] = v
}

// AddRegexp adds a regex key, tried after the others in the order added;
// slots are its named groups' variables (Registry.CaptureSlots).
func (m *Map) AddRegexp(re *regexp.Regexp, slots []int, v *Template) {
	m.regexps = append(m.regexps, mapRegexp{re: re, slots: slots, value: v})
}

// Getter returns the Getter that computes the map for a request.
func (m *Map) Getter() Getter { return m.get }

func (m *Map) get(r *Request) string {
	src := m.source.Expand(r)
	if m.hostnames {
		src = strings.TrimSuffix(src, ".")
	}
	if v := m.find(src, r); v != nil {
		return v.Expand(r)
	}
	return ""
}

// find returns the value for src, the default when nothing matches.
func (m *Map) find(src string, r *Request) *Template {
	if len(m.exact) > 0 || m.head != nil || m.tail != nil {
		low := strings.ToLower(src)
		if v, ok := m.exact[low]; ok {
			return v
		}
		if m.head != nil {
			// The longest suffix starting at a dot: "a.b.example.com"
			// tries ".b.example.com" before ".example.com".
			for i := 0; i < len(low); i++ {
				if low[i] == '.' {
					if v, ok := m.head[low[i:]]; ok {
						return v
					}
				}
			}
		}
		if m.tail != nil {
			for i := len(low) - 1; i > 0; i-- {
				if low[i] == '.' {
					if v, ok := m.tail[low[:i+1]]; ok {
						return v
					}
				}
			}
		}
	}
	for i := range m.regexps {
		mr := &m.regexps[i]
		if r.User != nil {
			if r.User.Match(mr.re, mr.slots, src) {
				return mr.value
			}
		} else if mr.re.MatchString(src) {
			return mr.value
		}
	}
	return m.def
}
