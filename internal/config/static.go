package config

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// This file holds the directives of static files and error pages
// (ngx_http_core_module's root, alias, index, try_files, types,
// default_type, etag, if_modified_since, internal, error_page,
// recursive_error_pages; ngx_http_index_module; ngx_http_proxy_module's
// proxy_intercept_errors) and named locations. Their settings merge from
// http to server to location with the proxy settings (proxyConf.static)
// and end up in ProxySettings.Static.

// Defaults of the static settings, nginx's.
const (
	// defaultRoot is root's default, under the prefix.
	defaultRoot = "html"
	// DefaultType is default_type's default. nginx's compiled-in value
	// is text/plain; its sample nginx.conf sets application/octet-stream.
	DefaultType = "text/plain"
	// MaxInternalRedirects bounds the internal redirects (error_page,
	// try_files, index) of one request, as NGX_HTTP_MAX_URI_CHANGES: the
	// eleventh answers 500.
	MaxInternalRedirects = 10
)

// defaultIndex is index's default.
var defaultIndex = []string{"index.html"}

// defaultTypes is nginx's compiled-in types table, used where no level
// has a types block: without `include mime.types` nginx knows only these
// three (ngx_http_core_default_types).
var defaultTypes = map[string]string{
	"html": "text/html",
	"gif":  "image/gif",
	"jpg":  "image/jpeg",
}

// Static is the effective static-file and error-page settings of a level.
type Static struct {
	// Root is the absolute directory files are served from: root (a
	// relative one joined to the prefix), default "html" under the prefix.
	// With Alias, it is the alias path and replaces AliasPrefix.
	Root string
	// Alias is set when Root comes from `alias`: the part of the URI
	// that matched AliasPrefix (the location's path) is replaced by Root
	// instead of Root being put in front of the whole URI.
	Alias       bool
	AliasPrefix string
	// AliasWhole is an alias in a regex location: it names the file
	// itself, whatever the URI, as nginx maps it without captures.
	AliasWhole bool
	// RootPos is the line of root or alias (zero for the default), for
	// the errors of its variables. Prefix is the prefix directory, which
	// a root with variables that expands to a relative path is under.
	RootPos Pos
	// RootVars says Root holds variables: it is then the directive's
	// value as written, expanded per request, and a relative result is
	// joined to Prefix.
	RootVars bool
	Prefix   string
	// Index is the index directive's files, default "index.html"; they
	// may hold variables. IndexPos is the line of the first index
	// directive, for the errors of those variables.
	Index    []string
	IndexPos Pos
	// TryFiles is the level's own try_files, or nil; nginx does not
	// inherit it.
	TryFiles *TryFiles
	// DefaultType is default_type (default text/plain), the type of a
	// file whose extension Types lacks.
	DefaultType string
	// Types maps a lower-case extension to its MIME type: the types
	// block in effect, else nginx's three defaults.
	Types map[string]string
	// ETag is `etag on|off`, default on.
	ETag bool
	// IfModifiedSince is "off", "exact" (default) or "before".
	IfModifiedSince string
	// ErrorPages are the effective error_page lines; a level with any
	// inherits none, as in nginx.
	ErrorPages []ErrorPage
	// InterceptErrors is proxy_intercept_errors (default off): upstream
	// responses of 300 or more with an error_page get that page.
	InterceptErrors bool
	// RecursiveErrorPages is recursive_error_pages (default off): an
	// error while serving an error page may lead to another error page.
	RecursiveErrorPages bool
	// LogNotFound is log_not_found (default on): a file that is not
	// found is written to the error log.
	LogNotFound bool
	// Symlinks is disable_symlinks (default off: followed).
	Symlinks Symlinks
}

// TryFiles is `try_files FILE ... URI|=CODE|@name`.
type TryFiles struct {
	Pos Pos
	// Files are the FILE arguments as written; they may hold variables
	// ($uri), and one ending in "/" tests for a directory.
	Files []string
	// Fallback is the last argument: a URI (internal redirect), "@name",
	// or "" when Code is set.
	Fallback string
	// Code is the =CODE fallback, 0 otherwise.
	Code int
}

// ErrorPage is one `error_page CODE ... [=[RESPONSE]] URI|@name` line.
type ErrorPage struct {
	Pos   Pos
	Codes []int
	// Response is 0 to answer with the original code, ResponseOfTarget
	// for "=" (the target's own status), or the code of "=RESPONSE".
	Response int
	// Target is a URI (internal redirect, may hold "?args"), "@name", or
	// an absolute URL ("http://", "https://", "$scheme") for a redirect.
	Target string
}

// ResponseOfTarget is ErrorPage.Response for a bare "=": the status is
// the one the error page's target answers with.
const ResponseOfTarget = -1

// staticConf is the static settings of one level.
type staticConf struct {
	root        setting[rootConf]
	index       setting[indexConf]
	tryFiles    *TryFiles
	defaultType setting[string]
	types       setting[map[string]string]
	etag        setting[bool]
	ims         setting[string]
	errorPages  []ErrorPage
	intercept   setting[bool]
	recursive   setting[bool]
	logNotFound setting[bool]
	// autoindex is kept only to refuse a second line.
	autoindex setting[bool]
	symlinks  setting[Symlinks]
}

// indexConf is the index files of a level and the line of the first.
type indexConf struct {
	files []string
	pos   Pos
}

// rootConf is root or alias, which nginx keeps as one setting: a level
// sets one or the other, and nested locations inherit either.
type rootConf struct {
	path        string
	alias       bool
	aliasPrefix string
	pos         Pos
	name        string // "root" or "alias", for the duplicate error
	prefix      string
	aliasWhole  bool
	vars        bool // path holds variables: kept as written
}

// inherit fills what this level left unset from parent.
func (c *staticConf) inherit(parent *staticConf) {
	c.root.inherit(parent.root)
	c.index.inherit(parent.index)
	c.defaultType.inherit(parent.defaultType)
	c.types.inherit(parent.types)
	c.etag.inherit(parent.etag)
	c.ims.inherit(parent.ims)
	if len(c.errorPages) == 0 {
		c.errorPages = parent.errorPages
	}
	c.intercept.inherit(parent.intercept)
	c.recursive.inherit(parent.recursive)
	c.logNotFound.inherit(parent.logNotFound)
	c.symlinks.inherit(parent.symlinks)
}

// effective returns the merged settings. The default root is put in
// http's level, unset, when the build starts (it depends on the prefix).
func (c *staticConf) effective() Static {
	r := c.root.v
	return Static{
		Root:                r.path,
		RootVars:            r.vars,
		RootPos:             r.pos,
		Prefix:              r.prefix,
		Alias:               r.alias,
		AliasPrefix:         r.aliasPrefix,
		AliasWhole:          r.aliasWhole,
		Index:               c.index.or(indexConf{files: defaultIndex}).files,
		IndexPos:            c.index.v.pos,
		TryFiles:            c.tryFiles,
		DefaultType:         c.defaultType.or(DefaultType),
		Types:               c.types.or(defaultTypes),
		ETag:                c.etag.or(true),
		IfModifiedSince:     c.ims.or("exact"),
		ErrorPages:          c.errorPages,
		InterceptErrors:     c.intercept.or(false),
		RecursiveErrorPages: c.recursive.or(false),
		LogNotFound:         c.logNotFound.or(true),
		Symlinks:            c.symlinks.or(SymlinksFollow),
	}
}

// staticRoot handles `root PATH` and `alias PATH`. A relative path is
// joined to the prefix, as nginx does; one with variables is expanded
// for each request.
func (b *builder) staticRoot(d *Directive, s *scope) error {
	f := &s.proxy.static.root
	if f.set {
		if f.v.name == d.Name {
			return d.duplicate()
		}
		return d.errorf("%q directive is duplicate, %q directive was specified earlier", d.Name, f.v.name)
	}
	p := d.Args[0]
	rc := rootConf{path: p, pos: d.Pos(), name: d.Name, prefix: b.prefix}
	if d.Name == "alias" {
		loc := s.loc.loc
		switch {
		case isNamed(loc):
			return d.errorf("\"alias\" directive cannot be used inside the named location")
		}
		rc.alias, rc.aliasPrefix = true, loc.Path
		if loc.Regexp != nil {
			// In a regex location the alias is the whole path, as in
			// nginx: there is no prefix to replace, and the path is
			// built from the regex's captures ("alias /srv/$1").
			rc.aliasPrefix, rc.aliasWhole = "", true
		}
	}
	if strings.Contains(p, "$") {
		// Expanded per request (internal/static); a relative result
		// is joined to the prefix then, as nginx does.
		// The prefix is not part of the template: a "$" in its
		// directory's name is no variable.
		rc.vars = true
		*f = setting[rootConf]{v: rc, set: true}
		return nil
	}
	if !filepath.IsAbs(rc.path) {
		rc.path = filepath.Join(b.prefix, rc.path)
	} else if !strings.HasSuffix(p, "/") || len(p) == 1 {
		rc.path = filepath.Clean(rc.path)
	}
	// nginx keeps a trailing slash of alias: "alias /srv/x/;" for
	// "location /x/" maps /x/a to /srv/x/a.
	if rc.alias && strings.HasSuffix(p, "/") && !strings.HasSuffix(rc.path, "/") {
		rc.path += "/"
	}
	*f = setting[rootConf]{v: rc, set: true}
	return nil
}

// staticIndex handles `index FILE ...`. Only the last file may be an
// absolute path, as in nginx; files may hold variables
// ("/index.php$request_uri").
func (b *builder) staticIndex(d *Directive, s *scope) error {
	f := &s.proxy.static.index
	for i, a := range d.Args {
		switch {
		case a == "":
			return d.errorf("index %q in %q directive is invalid", a, d.Name)
		case a[0] == '/' && i != len(d.Args)-1:
			return d.errorf("only the last index in %q directive should be absolute", d.Name)
		}
	}
	// Several index lines at one level add up, as in nginx.
	if !f.set {
		*f = setting[indexConf]{v: indexConf{pos: d.Pos()}, set: true}
	}
	f.v.files = append(f.v.files, d.Args...)
	return nil
}

// tryFiles handles `try_files FILE ... URI|=CODE|@name`.
func (b *builder) tryFiles(d *Directive, s *scope) error {
	if s.proxy.static.tryFiles != nil {
		return d.duplicate()
	}
	t := &TryFiles{Pos: d.Pos(), Files: d.Args[:len(d.Args)-1]}
	last := d.Args[len(d.Args)-1]
	if code, ok := strings.CutPrefix(last, "="); ok {
		n, err := strconv.Atoi(code)
		if err != nil || n < 0 || n > 999 {
			return d.errorf("invalid code %q", last)
		}
		t.Code = n
	} else {
		t.Fallback = last
	}
	s.proxy.static.tryFiles = t
	return nil
}

// types handles `types { MIME EXT ...; }`: the block's entries are a
// table, not directives. A level with a types block does not inherit the
// outer one; several blocks at one level make one table. An extension given twice takes the last type, with nginx's
// warning.
func (b *builder) types(d *Directive, s *scope) error {
	f := &s.proxy.static.types
	// Several blocks at one level add up (`include mime.types;` then a
	// block of one's own), as in nginx.
	m := f.v
	if !f.set {
		m = make(map[string]string)
	}
	for _, e := range d.Block {
		if e.HasBlock {
			return e.errorf("unexpected \"{\"")
		}
		if len(e.Args) == 0 {
			return e.errorf("invalid number of arguments in \"types\" directive")
		}
		for _, ext := range e.Args {
			ext = strings.ToLower(ext)
			if old, ok := m[ext]; ok && old != e.Name {
				b.cfg.Warnings = append(b.cfg.Warnings, Warning{Pos: e.Pos(), Msg: "duplicate extension \"" + ext +
					"\", content type: \"" + e.Name + "\", previous content type: \"" + old + "\""})
			}
			m[ext] = e.Name
		}
	}
	*f = setting[map[string]string]{v: m, set: true}
	return nil
}

// staticSlot stores a value of staticConf, refusing a second at the same
// level, like slot for proxyConf.
func staticSlot[T any](field func(*staticConf) *setting[T], parse func(d *Directive) (T, error)) handler {
	return slot(func(p *proxyConf) *setting[T] { return field(&p.static) }, parse)
}

// staticFlag stores on/off in staticConf.
func staticFlag(field func(*staticConf) *setting[bool]) handler {
	return staticSlot(field, func(d *Directive) (bool, error) { return strings.EqualFold(d.Args[0], "on"), nil })
}

// unsupportedOn stores an on/off flag whose "on" limpet does not
// implement, refusing it in the not-supported wording.
func unsupportedOn(field func(*staticConf) *setting[bool], what string) handler {
	return staticSlot(field, func(d *Directive) (bool, error) {
		if !strings.EqualFold(d.Args[0], "off") {
			return false, d.errorf("\"%s %s\" is not supported by limpet (%s)", d.Name, d.Args[0], what)
		}
		return false, nil
	})
}

// disableSymlinks handles `disable_symlinks off | on [from=$document_root]`:
// off (the default) follows symlinks; on refuses a path with one in any
// part (403), or, with from=$document_root, in the part under the root.
// if_not_owner, and from= naming anything else, are refused.
func (b *builder) disableSymlinks(d *Directive, s *scope) error {
	f := &s.proxy.static.symlinks
	if f.set {
		return d.duplicate()
	}
	v := SymlinksFollow
	switch d.Args[0] {
	case "off":
		if len(d.Args) > 1 {
			return d.invalidParam(d.Args[1])
		}
	case "on":
		v = SymlinksRefuse
		if len(d.Args) > 1 {
			if d.Args[1] != "from=$document_root" {
				if strings.HasPrefix(d.Args[1], "from=") {
					return d.errorf("\"disable_symlinks\" with %q is not supported by limpet (only \"from=$document_root\")", d.Args[1])
				}
				return d.invalidParam(d.Args[1])
			}
			v = SymlinksRefuseUnderRoot
		}
	case "if_not_owner":
		return d.errorf("\"disable_symlinks if_not_owner\" is not supported by limpet (use \"on\")")
	default:
		return d.invalidArg(d.Args[0])
	}
	*f = setting[Symlinks]{v: v, set: true}
	return nil
}

// Symlinks is disable_symlinks: whether symlinks in a file's path are
// followed.
type Symlinks uint8

// The disable_symlinks settings.
const (
	SymlinksFollow          Symlinks = iota // off, the default
	SymlinksRefuse                          // on: no part of the path may be one
	SymlinksRefuseUnderRoot                 // on from=$document_root: no part under the root
)

// internal handles `internal;`: the location answers internal redirects
// only; a client's request for it gets 404.
func (b *builder) internal(d *Directive, s *scope) error {
	if s.loc.internalSet {
		return d.duplicate()
	}
	// A named location is internal already; saying so is allowed.
	s.loc.internalSet = true
	s.loc.loc.Internal = true
	return nil
}

// errorPage handles `error_page CODE ... [=[RESPONSE]] URI|@name`.
func (b *builder) errorPage(d *Directive, s *scope) error {
	args := d.Args
	ep := ErrorPage{Pos: d.Pos(), Target: args[len(args)-1]}
	args = args[:len(args)-1]
	if n := len(args); n > 0 && strings.HasPrefix(args[n-1], "=") {
		v := args[n-1][1:]
		if v == "" {
			ep.Response = ResponseOfTarget
		} else {
			c, err := strconv.Atoi(v)
			if err != nil || c <= 0 {
				return d.errorf("invalid value %q", args[n-1])
			}
			ep.Response = c
		}
		args = args[:n-1]
	}
	if len(args) == 0 {
		return d.errorf("invalid number of arguments in %q directive", d.Name)
	}
	for _, a := range args {
		c, err := strconv.Atoi(a)
		if err != nil {
			return d.errorf("invalid value %q", a)
		}
		if c == 499 {
			return d.errorf("value %q must be between 300 and 599 and not equal to 499", a)
		}
		if c < 300 || c > 599 {
			return d.errorf("value %q must be between 300 and 599", a)
		}
		ep.Codes = append(ep.Codes, c)
	}
	s.proxy.static.errorPages = append(s.proxy.static.errorPages, ep)
	return nil
}

// isNamed reports whether loc is a named location ("location @name").
func isNamed(loc *Location) bool { return strings.HasPrefix(loc.Path, "@") && loc.Modifier == "" }

// NamedLocations returns the server's named locations in the order of
// their names, for those who walk every location (health checks, the
// admin warnings): Locations does not hold them.
func (s *Server) NamedLocations() []*Location {
	names := make([]string, 0, len(s.Named))
	for n := range s.Named {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*Location, len(names))
	for i, n := range names {
		out[i] = s.Named[n]
	}
	return out
}

// IsNamed reports whether the location is a named one, `location @name`:
// it is reached only by error_page and try_files, never matched.
func (l *Location) IsNamed() bool { return isNamed(l) }

// namedLocation handles `location @name { ... }`: on the server level
// only, as in nginx, reached only by error_page and try_files. Its
// settings merge from the server's like any location's.
func (b *builder) namedLocation(d *Directive, s *scope, name string) error {
	if s.loc != nil {
		return d.errorf("named location %q can be on the server level only", name)
	}
	srv := s.srv.srv
	if srv.Named[name] != nil {
		return d.errorf("duplicate location %q", name)
	}
	loc := &Location{Pos: d.Pos(), Path: name, Internal: true}
	lc := &locationConf{loc: loc}
	s.srv.locs = append(s.srv.locs, lc)
	if srv.Named == nil {
		srv.Named = make(map[string]*Location)
	}
	srv.Named[name] = loc
	return b.walk(d.Block, &scope{where: inLocation, proxy: &lc.proxy, access: &lc.access, limits: &lc.limits, srv: s.srv, loc: lc})
}
