package router

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
)

// Locations chooses the location of a request inside one server, with
// nginx's precedence (ngx_http_core_find_location):
//
//  1. an exact location ("= /path") equal to the path wins at once;
//  2. otherwise the longest matching prefix among plain and "^~" locations
//     is remembered (case-sensitive), and the search descends into its
//     nested locations with the same rules;
//  3. unless that prefix is "^~", the regex locations ("~" case-sensitive,
//     "~*" case-insensitive) of the level are tried in configuration order
//     and the first match wins, its own nested locations searched in turn;
//  4. otherwise the remembered prefix is used.
//
// Because the search descends before trying regexes, regexes nested in the
// matched prefix are tried before those of the outer level.
//
// A Locations is immutable and safe for concurrent use.
type Locations struct {
	root *level
}

// level is one list of sibling locations: the locations of a server, or
// those nested in one location.
type level struct {
	// exact holds "=" locations by path and, for the paths no "="
	// location claims, prefix locations by path: nginx's static tree
	// ends the search when the path equals a prefix location's name, as
	// if it were exact (nested locations and regexes are then not tried).
	exact map[string]*node
	// prefixes are the plain and "^~" locations, longest first, so the
	// first one that matches is the longest. A linear scan: fine for the
	// tens of locations a server usually has; a sorted tree like nginx's
	// would bound it for configurations with hundreds.
	prefixes []*node
	// regexes in configuration order.
	regexes []*node
}

// node is one location with what matching it needs precomputed.
type node struct {
	loc     *config.Location
	re      *regexp.Regexp // regex locations only
	noregex bool           // "^~"
	nested  *level         // nil when the location has no nested locations
}

// NewLocations compiles the locations of a server (Server.Locations), with
// their nested locations. Named locations ("@name", without a modifier)
// are skipped: they are reached only by internal redirects, never by the
// request path. "~ @x" is a regex like any other, as in nginx.
func NewLocations(locs []*config.Location) (*Locations, error) {
	root, err := newLevel(locs)
	if err != nil {
		return nil, err
	}
	return &Locations{root: root}, nil
}

func newLevel(locs []*config.Location) (*level, error) {
	lv := &level{exact: make(map[string]*node)}
	var inclusive []*node // prefix locations, in configuration order
	for _, loc := range locs {
		if loc == nil || loc.Modifier == "" && strings.HasPrefix(loc.Path, "@") {
			continue
		}
		n := &node{loc: loc}
		if len(loc.Locations) > 0 {
			nested, err := newLevel(loc.Locations)
			if err != nil {
				return nil, err
			}
			n.nested = nested
		}
		switch loc.Modifier {
		case "=":
			if prev, ok := lv.exact[loc.Path]; ok && prev.loc.Modifier == "=" {
				return nil, fmt.Errorf("duplicate location %q in %s", loc.Path, loc.Pos)
			}
			lv.exact[loc.Path] = n
		case "", "^~":
			for _, p := range inclusive {
				if p.loc.Path == loc.Path {
					return nil, fmt.Errorf("duplicate location %q in %s", loc.Path, loc.Pos)
				}
			}
			n.noregex = loc.Modifier == "^~"
			inclusive = append(inclusive, n)
		case "~", "~*":
			// config compiled it (one compile, with nginx's errors).
			if loc.Regexp == nil {
				return nil, fmt.Errorf("regex location %q is not compiled in %s", loc.Path, loc.Pos)
			}
			n.re = loc.Regexp
			lv.regexes = append(lv.regexes, n)
		default:
			return nil, fmt.Errorf("invalid location modifier %q in %s", loc.Modifier, loc.Pos)
		}
	}
	for _, n := range inclusive {
		if _, ok := lv.exact[n.loc.Path]; !ok {
			lv.exact[n.loc.Path] = n
		}
	}
	lv.prefixes = slices.Clone(inclusive)
	slices.SortStableFunc(lv.prefixes, func(a, b *node) int {
		return cmp.Compare(len(b.loc.Path), len(a.loc.Path))
	})
	return lv, nil
}

// Match returns the location for a normalized path (see NormalizePath)
// and, for prefix and exact locations, the matched prefix, which is the
// location's path and what proxy_pass with a URI replaces (see
// UpstreamURI); for regex locations prefix is "". It returns nil when no
// location matches. Match does not allocate.
//
// nginx answers a path equal to a "/"-terminated prefix location minus
// that slash ("/app" for "location /app/" with proxy_pass) with a 301 to
// the slashed path; Match does not: it matches "/app" like any other path.
func (l *Locations) Match(path string) (loc *config.Location, prefix string) {
	n, _ := l.root.find(path, nil)
	if n == nil {
		return nil, ""
	}
	if n.re != nil {
		return n.loc, ""
	}
	return n.loc, n.loc.Path
}

// find searches one level. cur is the location the search already holds
// (the enclosing one, nil at the top). It returns the location found and
// whether the search is over (exact or regex match), mirroring the NGX_OK
// and NGX_AGAIN/NGX_DECLINED results of ngx_http_core_find_location.
func (lv *level) find(path string, cur *node) (*node, bool) {
	if n, ok := lv.exact[path]; ok {
		return n, true
	}
	noregex := false
	for _, p := range lv.prefixes {
		if !strings.HasPrefix(path, p.loc.Path) {
			continue
		}
		cur = p
		// Only this level's prefix decides: a "^~" nested deeper stops
		// the regexes of its own level, not those of this one, exactly as
		// the per-call noregex of ngx_http_core_find_location.
		noregex = p.noregex
		if p.nested != nil {
			n, done := p.nested.find(path, p)
			if done {
				return n, true
			}
			cur = n
		}
		break
	}
	if !noregex {
		for _, r := range lv.regexes {
			if !r.re.MatchString(path) {
				continue
			}
			if r.nested != nil {
				n, _ := r.nested.find(path, r)
				return n, true
			}
			return r, true
		}
	}
	return cur, false
}
