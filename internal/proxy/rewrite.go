package proxy

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file is nginx's rewrite phase (ngx_http_rewrite_module): the
// server's set, rewrite, if, break and return lines run before the
// location is chosen, the location's once it is; a rewrite that changes
// the URI makes the location search run again (at most maxURIChanges
// times, as NGX_HTTP_MAX_URI_CHANGES), unless `break` ended the phase.
// A server whose configuration uses none of it never comes here.

// maxURIChanges is how many times a request may search its location
// again after a rewrite before nginx answers 500 ("rewrite or internal
// redirection cycle while processing ...").
const maxURIChanges = 10

// serverRewrites is what the rewrite phase needs of a server.
type serverRewrites struct {
	script []stmt
	// names are the server's regex server_names with the variables of
	// their named groups, tried in order for the captures of the one that
	// chose the server.
	names []nameRegexp
	// locSlots are the named groups of regex locations.
	locSlots map[*config.Location][]int
	// captures is whether any template uses $0 to $9, so the match of a
	// regex location is recorded.
	captures bool
}

type nameRegexp struct {
	re    *regexp.Regexp
	slots []int
}

// stmt is a compiled config.Stmt.
type stmt struct {
	kind config.StmtKind
	pos  config.Pos
	// set
	slot int
	// args is set for `set $args`, which changes the request's
	// arguments instead of a variable of the registry.
	args  bool
	value *vars.Template // set's value, rewrite's replacement
	// rewrite
	re       *regexp.Regexp
	slots    []int // named groups of re
	flag     config.RewriteFlag
	keepArgs bool
	// return
	ret *returnAction
	// if
	cond cond
	body []stmt
	loc  *location // the if block's location, nil in a server
}

// cond is a compiled config.Condition.
type cond struct {
	op    config.CondOp
	v     *vars.Template
	value *vars.Template
	re    *regexp.Regexp
	slots []int
	// negate is the '!' of a file test.
	negate bool
}

// CompileVariables builds the registry of the variables cfg defines:
// every map, every variable a set assigns and every named group of its
// regular expressions (locations, server_name, rewrite, if, map), then
// compiles the maps' sources and values against it. Errors name the line
// at fault in nginx's words (`unknown "x" variable`).
func CompileVariables(cfg *config.Config) (*vars.Registry, error) {
	g := vars.NewRegistry()
	for _, m := range cfg.Maps {
		if _, err := g.DefineComputed(m.Var); err != nil {
			return nil, &config.Error{Pos: m.Pos, Msg: err.Error()}
		}
	}
	defineRegexp := func(pos config.Pos, re *regexp.Regexp) error {
		if re == nil {
			return nil
		}
		if _, err := g.CaptureSlots(re); err != nil {
			return &config.Error{Pos: pos, Msg: err.Error()}
		}
		return nil
	}
	var walkScript func([]*config.Stmt) error
	walkScript = func(list []*config.Stmt) error {
		for _, st := range list {
			switch st.Kind {
			case config.StmtSet:
				if setsArgs(st) {
					continue // a builtin's set handler, not a variable of g
				}
				if _, err := g.Define(st.Var); err != nil {
					return &config.Error{Pos: st.Pos, Msg: err.Error()}
				}
			case config.StmtRewrite:
				if err := defineRegexp(st.Pos, st.Regexp); err != nil {
					return err
				}
			case config.StmtIf:
				if err := defineRegexp(st.Pos, st.Cond.Regexp); err != nil {
					return err
				}
				if err := walkScript(st.Body); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var walkLocs func([]*config.Location) error
	walkLocs = func(list []*config.Location) error {
		for _, l := range list {
			if err := defineRegexp(l.Pos, l.Regexp); err != nil {
				return err
			}
			if err := walkScript(l.Script); err != nil {
				return err
			}
			if err := walkLocs(l.Locations); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range cfg.Servers {
		for _, re := range s.NameRegexps {
			if err := defineRegexp(s.Pos, re); err != nil {
				return nil, err
			}
		}
		if err := walkScript(s.Script); err != nil {
			return nil, err
		}
		if err := walkLocs(s.Locations); err != nil {
			return nil, err
		}
	}
	for _, m := range cfg.Maps {
		for _, e := range m.Regexps {
			if err := defineRegexp(e.Pos, e.Regexp); err != nil {
				return nil, err
			}
		}
	}
	if err := defineAuthSets(g, cfg); err != nil {
		return nil, err
	}
	// Every name is known: compile the maps.
	for _, m := range cfg.Maps {
		if err := compileMap(g, m); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func compileMap(g *vars.Registry, m *config.Map) error {
	tmpl := func(pos config.Pos, s string) (*vars.Template, error) {
		t, err := g.Compile(s)
		if err != nil {
			return nil, &config.Error{Pos: pos, Msg: err.Error()}
		}
		return t, nil
	}
	src, err := tmpl(m.Pos, m.Source)
	if err != nil {
		return err
	}
	vm := vars.NewMap(src, m.Hostnames)
	if m.DefaultPos.Line != 0 {
		def, err := tmpl(m.DefaultPos, m.Default)
		if err != nil {
			return err
		}
		vm.SetDefault(def)
	}
	for _, e := range m.Entries {
		v, err := tmpl(e.Pos, e.Value)
		if err != nil {
			return err
		}
		vm.Add(e.Key, v)
	}
	for _, e := range m.Regexps {
		v, err := tmpl(e.Pos, e.Value)
		if err != nil {
			return err
		}
		slots, _ := g.CaptureSlots(e.Regexp) // defined already
		vm.AddRegexp(e.Regexp, slots, v)
	}
	slot, _ := g.Define(m.Var) // declared by DefineComputed
	g.SetGetter(slot, vm.Getter(), m.Volatile)
	return nil
}

// compileRewrites compiles the server's and its locations' scripts;
// vs.rewrites stays nil when the server needs no rewrite phase at all.
func (vs *virtualServer) compileRewrites(s *config.Server, env *Env) error {
	g := env.Vars
	sr := &serverRewrites{locSlots: make(map[*config.Location][]int)}
	var err error
	if sr.script, err = compileScript(script(s.Script), env); err != nil {
		return err
	}
	need := len(sr.script) > 0
	for l, cl := range vs.compiled {
		if cl.script, err = compileScript(script(l.Script), env); err != nil {
			return err
		}
		need = need || len(cl.script) > 0
	}
	// A named location's script runs when error_page or try_files
	// sends a request there (named).
	for name, l := range s.Named {
		cl := vs.named[name]
		if cl.script, err = compileScript(script(l.Script), env); err != nil {
			return err
		}
		need = need || len(cl.script) > 0
	}
	// Every template of the server is compiled now, so the registry
	// knows whether any uses a capture.
	sr.captures = g.UsesCaptures()
	if !need && g.Len() == 0 && !sr.captures {
		return nil
	}
	for _, name := range s.Names {
		if re := s.NameRegexps[name]; re != nil {
			slots, err := g.CaptureSlots(re)
			if err != nil {
				return &config.Error{Pos: s.Pos, Msg: err.Error()}
			}
			sr.names = append(sr.names, nameRegexp{re: re, slots: slots})
		}
	}
	for l := range vs.compiled {
		if l.Regexp != nil {
			if sr.locSlots[l], err = g.CaptureSlots(l.Regexp); err != nil {
				return &config.Error{Pos: l.Pos, Msg: err.Error()}
			}
		}
	}
	vs.rewrites = sr
	return nil
}

// script is the rewrite phase of a level, nil when it is a lone
// `return`: that one is compiled as the level's action (location.ret),
// which run answers before the access control and ServeHTTP before the
// limits, as nginx's rewrite phase does, without a script to run.
func script(list []*config.Stmt) []*config.Stmt {
	if len(list) == 1 && list[0].Kind == config.StmtReturn {
		return nil
	}
	return list
}

func compileScript(list []*config.Stmt, env *Env) ([]stmt, error) {
	g := env.Vars
	tmpl := func(pos config.Pos, s string) (*vars.Template, error) {
		t, err := g.Compile(s)
		if err != nil {
			return nil, &config.Error{Pos: pos, Msg: err.Error()}
		}
		return t, nil
	}
	out := make([]stmt, 0, len(list))
	for _, st := range list {
		c := stmt{kind: st.Kind, pos: st.Pos}
		var err error
		switch st.Kind {
		case config.StmtSet:
			if c.args = setsArgs(st); !c.args {
				c.slot, _ = g.Define(st.Var) // defined by CompileVariables
			}
			if c.value, err = tmpl(st.Pos, st.Value); err != nil {
				return nil, err
			}
		case config.StmtRewrite:
			c.re, c.flag, c.keepArgs = st.Regexp, st.Flag, st.KeepArgs
			c.slots, _ = g.CaptureSlots(st.Regexp)
			redirect := st.Flag == config.RewriteRedirect || st.Flag == config.RewritePermanent
			if c.value, err = g.CompileRewrite(st.Value, redirect); err != nil {
				return nil, &config.Error{Pos: st.Pos, Msg: err.Error()}
			}
		case config.StmtReturn:
			if c.ret, err = compileReturn(g, st.Return); err != nil {
				return nil, err
			}
		case config.StmtIf:
			cc := st.Cond
			c.cond = cond{op: cc.Op, re: cc.Regexp, negate: cc.Negate}
			if cc.Var != "" {
				if c.cond.v, err = tmpl(st.Pos, cc.Var); err != nil {
					return nil, err
				}
			}
			if cc.Op != config.CondVar && cc.Regexp == nil {
				if c.cond.value, err = tmpl(st.Pos, cc.Value); err != nil {
					return nil, err
				}
			}
			if cc.Regexp != nil {
				c.cond.slots, _ = g.CaptureSlots(cc.Regexp)
			}
			if c.body, err = compileScript(st.Body, env); err != nil {
				return nil, err
			}
			if st.Location != nil {
				if c.loc, err = compileLocation(st.Location, env); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// outcome is how a script ended.
type outcome uint8

const (
	outNext  outcome = iota // ran to its end
	outBreak                // break, or rewrite ... break: the phase is over
	outLast                 // rewrite ... last: search the location again
	outDone                 // a response was written (return, redirect)
)

// rewriteRun is the state of one request's rewrite phase.
type rewriteRun struct {
	h  *Handler
	w  *responseWriter
	r  *http.Request
	vr *vars.Request
	// loc is the location the request has: the one found, or the
	// configuration of an if block whose condition held.
	loc *location
	// args is the query string as rewrites leave it.
	args string
	// changed is set when a rewrite changed the URI, unset by break.
	changed bool
	// changedHere is set when a rewrite of the current location's
	// script changed the URI, even if break then ended the phase.
	changedHere bool
	// rewritten is whether the request was ever rewritten, so the
	// request the proxy sends carries the new URI.
	rewritten bool
}

// rewritePhase runs the server's script, chooses the location, and runs
// the location's script, searching again while rewrites change the URI.
// It returns the location that serves the request, the prefix it
// matched ("" when the URI changed in the location itself, so the proxy
// passes the whole new URI, as nginx does after `break`), the request
// with its URI rewritten, and whether a response was already written.
func (h *Handler) rewritePhase(vs *virtualServer, w *responseWriter, r *http.Request, vr *vars.Request, path string) (*location, string, *http.Request, bool) {
	sr := vs.rewrites
	rr := &rewriteRun{h: h, w: w, r: r, vr: vr, loc: vs.noLocation, args: r.URL.RawQuery}
	if vr.User != nil {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		vr.User.Quoted = strings.ContainsAny(p, "%+")
	}
	if len(sr.names) > 0 && vr.User != nil {
		host := strings.ToLower(vars.HostName(r.Host))
		for _, n := range sr.names {
			if vr.User.Match(n.re, n.slots, host) {
				break
			}
		}
	}
	if vs.noLocation.ret != nil {
		// A server's lone return answers every request, before any
		// access control, as without a rewrite phase (run).
		return vs.noLocation, "", r, false
	}
	if len(sr.script) > 0 {
		switch rr.run(sr.script) {
		case outDone:
			return rr.loc, "", rr.request(), true
		}
		// In a server, last and break both end the server's rewrites;
		// the location is searched with the URI they left.
		rr.changed = false
	}
	return rr.locationPhase(vs, nil)
}

// namedRewritePhase runs the script of the named location loc, where an
// internal redirect sent the request, and searches the locations again
// while its rewrites change the URI, as nginx's ngx_http_named_location
// starts the request at the location's rewrite phase: the server's
// script does not run again.
func (h *Handler) namedRewritePhase(vs *virtualServer, w *responseWriter, r *http.Request, vr *vars.Request, loc *location) (*location, string, *http.Request, bool) {
	rr := &rewriteRun{h: h, w: w, r: r, vr: vr, loc: loc, args: r.URL.RawQuery}
	return rr.locationPhase(vs, loc)
}

// locationPhase chooses the location and runs its script, searching
// again while rewrites change the URI; named, when not nil, is the
// location of the first round, instead of a search (rewritePhase
// returns what it does).
func (rr *rewriteRun) locationPhase(vs *virtualServer, named *location) (*location, string, *http.Request, bool) {
	h, w, r, vr, sr := rr.h, rr.w, rr.r, rr.vr, vs.rewrites
	first := true
	for changes := 0; ; changes++ {
		uri := vr.URI
		var l *config.Location
		var prefix string
		if changes == 0 && named != nil {
			first = false
		} else {
			l, prefix = vs.locations.Match(uri)
		}
		if first && !rr.rewritten {
			if sl := vs.slashRedirect[uri]; sl != nil && (l == nil || l.Path != uri) {
				w.add = sl.addHeaders
				redirectToSlash(w, r, vr, uri, sl.cfg.Proxy.Redirects)
				return sl, "", r, true
			}
		}
		first = false
		switch {
		case changes == 0 && named != nil:
			rr.loc = named
		case l != nil:
			rr.loc = vs.compiled[l]
		default:
			rr.loc = vs.noLocation
		}
		vr.Referers = rr.loc.referers
		if l != nil && l.Regexp != nil && vr.User != nil && (sr.captures || sr.locSlots[l] != nil) {
			vr.User.Match(l.Regexp, sr.locSlots[l], uri)
		}
		w.add = rr.loc.addHeaders
		if len(rr.loc.script) == 0 {
			return rr.loc, prefix, rr.request(), false
		}
		rr.changed, rr.changedHere = false, false
		out := rr.run(rr.loc.script)
		switch {
		case out == outDone:
			return rr.loc, "", rr.request(), true
		case out != outLast && !rr.changed:
			if rr.changedHere {
				prefix = ""
			}
			return rr.loc, prefix, rr.request(), false
		}
		if changes+1 >= maxURIChanges {
			h.errorLog.Error(fmt.Sprintf("rewrite or internal redirection cycle while processing %q", vr.URI))
			writeError(w, http.StatusInternalServerError)
			return rr.loc, "", rr.request(), true
		}
	}
}

// request is the request with the URI and arguments rewrites left; the
// original when none changed them. The copy keeps RequestURI, which is
// $request_uri, the request line as the client sent it.
func (rr *rewriteRun) request() *http.Request {
	if !rr.rewritten {
		return rr.r
	}
	return rr.vr.R
}

// run executes a script until it ends or a statement stops it.
func (rr *rewriteRun) run(script []stmt) outcome {
	vr := rr.vr
	for i := range script {
		st := &script[i]
		switch st.kind {
		case config.StmtSet:
			switch {
			case st.args:
				rr.setArgs(st.value.Expand(vr))
			case vr.User != nil:
				vr.User.Set(st.slot, st.value.Expand(vr))
			}
		case config.StmtBreak:
			rr.changed = false
			return outBreak
		case config.StmtReturn:
			rr.w.add = rr.loc.addHeaders
			// Its status goes through this level's error_page, as
			// nginx's r->loc_conf at the return.
			rr.w.fl.loc = rr.loc
			st.ret.serve(rr.w, vr.R, vr, rr.loc.cfg.Proxy.Redirects)
			return outDone
		case config.StmtRewrite:
			if out, ok := rr.rewrite(st); ok {
				if out != outNext {
					return out
				}
			}
		case config.StmtIf:
			if !rr.test(&st.cond) {
				continue
			}
			if st.loc != nil {
				// "if is evil": the block's configuration becomes the
				// request's.
				rr.loc = st.loc
				rr.w.add = st.loc.addHeaders
				vr.Referers = st.loc.referers
			}
			if out := rr.run(st.body); out != outNext {
				return out
			}
		}
	}
	return outNext
}

// test evaluates an if condition.
func (rr *rewriteRun) test(c *cond) bool {
	vr := rr.vr
	switch c.op {
	case config.CondMatch:
		// The value is kept as the subject of the captures.
		s := c.v.Expand(vr)
		if vr.User != nil {
			return vr.User.Match(c.re, c.slots, s)
		}
		return c.re.MatchString(s)
	case config.CondNotMatch:
		return !c.re.MatchString(c.v.Expand(vr))
	case config.CondFile, config.CondDir, config.CondExists, config.CondExec:
		return fileTest(c.op, c.value.Expand(vr)) != c.negate
	}
	var buf [128]byte
	v := c.v.Append(buf[:0], vr)
	switch c.op {
	case config.CondVar:
		return len(v) > 0 && !(len(v) == 1 && v[0] == '0')
	case config.CondEq, config.CondNe:
		var buf2 [128]byte
		eq := string(v) == string(c.value.Append(buf2[:0], vr))
		return eq == (c.op == config.CondEq)
	}
	return false
}

// rewrite applies one rewrite line; ok is false when its regex did not
// match the URI.
func (rr *rewriteRun) rewrite(st *stmt) (outcome, bool) {
	vr := rr.vr
	uri := vr.URI
	if vr.User != nil {
		if !vr.User.Match(st.re, st.slots, uri) {
			return outNext, false
		}
	} else if !st.re.MatchString(uri) {
		return outNext, false
	}
	repl := st.value.Expand(vr)
	if st.flag == config.RewriteRedirect || st.flag == config.RewritePermanent {
		repl = unescapeRedirect(repl)
		if st.keepArgs && rr.args != "" {
			if strings.Contains(repl, "?") {
				repl += "&" + rr.args
			} else {
				repl += "?" + rr.args
			}
		}
		code := http.StatusFound
		if st.flag == config.RewritePermanent {
			code = http.StatusMovedPermanently
		}
		rr.w.add = rr.loc.addHeaders
		setRedirect(rr.w, vr, rr.loc.cfg.Proxy.Redirects, headerSafe(repl))
		writeError(rr.w, code)
		return outDone, true
	}
	newURI, newArgs, hasArgs := strings.Cut(repl, "?")
	switch {
	case hasArgs && st.keepArgs && rr.args != "":
		rr.args = newArgs + "&" + rr.args
	case hasArgs:
		rr.args = newArgs
	case !st.keepArgs:
		rr.args = ""
	}
	rr.setURI(newURI)
	switch st.flag {
	case config.RewriteLast:
		return outLast, true
	case config.RewriteBreak:
		rr.changed = false
		return outBreak, true
	}
	return outNext, true
}

// setsArgs reports whether a set assigns $args, one of the builtins
// nginx gives a set handler (ngx_http_variable_set_args).
func setsArgs(st *config.Stmt) bool { return strings.EqualFold(st.Var, "args") }

// setArgs is `set $args VALUE`: as ngx_http_variable_set_args, the
// request's arguments become value, which $args, $query_string, $is_args
// and $arg_NAME read from then on and the proxy sends upstream;
// $request_uri stays the request line the client sent. The location is
// not searched again: the URI did not change.
func (rr *rewriteRun) setArgs(value string) {
	rr.args = value
	rr.own()
	u := rr.vr.R.URL
	u.RawQuery, u.ForceQuery = value, false
}

// own copies the request the first time a rewrite changes it, so the
// client's request is left as it came.
func (rr *rewriteRun) own() {
	if rr.rewritten {
		return
	}
	r2 := new(http.Request)
	*r2 = *rr.r
	u := *rr.r.URL
	r2.URL = &u
	rr.vr.R = r2
	rr.rewritten = true
}

// setURI makes uri and rr.args the request's: $uri, $args and what the
// proxy sends. The request is copied once, the first time.
func (rr *rewriteRun) setURI(uri string) {
	rr.own()
	r2 := rr.vr.R
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = uri, "", rr.args
	r2.URL.ForceQuery = false
	rr.vr.URI = uri
	rr.changed, rr.changedHere = true, true
}

// fileTest is an if's -f, -d, -e or -x on path, following symbolic links
// as nginx's open_file_cache lookup does: a regular file, a directory,
// anything that exists, something its owner may execute.
func fileTest(op config.CondOp, path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	switch op {
	case config.CondFile:
		return fi.Mode().IsRegular()
	case config.CondDir:
		return fi.IsDir()
	case config.CondExec:
		// ngx_is_exec: the owner's execute bit, whatever the type.
		return fi.Mode().Perm()&0o100 != 0
	}
	return true
}

// unescapeRedirect decodes the %XX escapes of a redirect's target up to
// its first '?', as ngx_unescape_uri with NGX_UNESCAPE_REDIRECT: an
// escape decodes only to a printable character above '%', so "%0D%0A"
// and "%25" stay as written and no header can be split.
func unescapeRedirect(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '?' {
			b = append(b, s[i:]...)
			break
		}
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				if d := hi<<4 | lo; d > '%' && d < 0x7f {
					b = append(b, d)
				} else {
					b = append(b, s[i:i+3]...)
				}
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
