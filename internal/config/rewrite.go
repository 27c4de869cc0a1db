package config

import (
	"regexp"
	"strings"
)

// This file reads nginx's ngx_http_rewrite_module (set, rewrite, if,
// break, return in order with them, rewrite_log,
// uninitialized_variable_warn) and ngx_http_map_module (map). The
// directives of a server or location's rewrite phase become a Script, run
// in the order written by the proxy; variables are left as text, since
// the config package imports nothing internal: the proxy compiles them
// and reports unknown ones at the Pos kept here.

// StmtKind is the kind of one statement of a rewrite-phase Script.
type StmtKind uint8

// The statements of the rewrite phase.
const (
	StmtSet     StmtKind = iota + 1 // set $VAR VALUE
	StmtRewrite                     // rewrite REGEX REPLACEMENT [FLAG]
	StmtReturn                      // return ...
	StmtIf                          // if (CONDITION) { ... }
	StmtBreak                       // break
)

// RewriteFlag is the last parameter of `rewrite`.
type RewriteFlag uint8

// The flags of `rewrite`; RewriteNone continues with the next statement.
const (
	RewriteNone      RewriteFlag = iota
	RewriteLast                  // last: stop, search the location again
	RewriteBreak                 // break: stop the rewrite directives
	RewriteRedirect              // redirect, or a replacement starting http://, https://, $scheme: 302
	RewritePermanent             // permanent: 301
)

// Stmt is one statement of a rewrite-phase script.
type Stmt struct {
	Pos  Pos
	Kind StmtKind
	// Var is set's variable, without '$'.
	Var string
	// Value is set's value or rewrite's replacement (without a final
	// '?'); it may hold variables and captures.
	Value string
	// Regexp is rewrite's regular expression (matched against the URI).
	Regexp *regexp.Regexp
	// Flag is rewrite's flag.
	Flag RewriteFlag
	// KeepArgs is false when the replacement ended in '?', which drops
	// the request's arguments.
	KeepArgs bool
	// Return is the statement's `return`.
	Return *Return
	// Cond and Body are an if's condition and the statements of its
	// block, which run when it holds.
	Cond *Condition
	Body []*Stmt
	// Location is, for an if in a location, the configuration that
	// becomes the request's when the condition holds ("if is evil": the
	// if block is a location of its own, inheriting from the enclosing
	// one, with its own proxy_pass and add_header lines). nil for an if
	// in a server.
	Location *Location
}

// CondOp is the test of an if condition.
type CondOp uint8

// The conditions of `if`.
const (
	CondVar      CondOp = iota + 1 // ($var): neither empty nor "0"
	CondEq                         // ($var = value)
	CondNe                         // ($var != value)
	CondMatch                      // ($var ~ regex), ~* caseless
	CondNotMatch                   // ($var !~ regex), !~* caseless
	CondFile                       // (-f path): a regular file
	CondDir                        // (-d path): a directory
	CondExists                     // (-e path): a file, directory or link
	CondExec                       // (-x path): an executable file
)

// Condition is the condition of an `if`.
type Condition struct {
	Op CondOp
	// Var is the tested variable, with its '$'.
	Var string
	// Value is the compared value (may hold variables) for = and !=.
	Value string
	// Regexp is the pattern of ~, ~*, !~ and !~*.
	Regexp *regexp.Regexp
	// Negate is the '!' of the file tests (!-f, !-d, !-e, !-x), whose
	// path, which may hold variables, is Value.
	Negate bool
}

// Map is an http-level `map SOURCE $VAR { ... }` block.
type Map struct {
	Pos Pos
	// Source is the value mapped, a complex value ("$http_upgrade",
	// "$host$uri").
	Source string
	// Var is the variable defined, without '$'.
	Var string
	// Hostnames makes keys host names with nginx's wildcards.
	Hostnames bool
	// Volatile: the value is not cached for the request.
	Volatile bool
	// Default is the value when nothing matches (the "default" key);
	// DefaultPos its line, zero when absent (the value is then "").
	Default    string
	DefaultPos Pos
	// Entries are the string and wildcard keys, in the order written,
	// Regexps the `~` and `~*` keys, tried in order after them.
	Entries []MapEntry
	Regexps []MapEntry
}

// MapEntry is one key and value of a map.
type MapEntry struct {
	Pos Pos
	// Key is the key as written (without a leading '\' escape, and
	// for regexes without '~' or '~*').
	Key string
	// Value may hold variables (and the key's captures).
	Value string
	// Regexp is the compiled key of a regex entry.
	Regexp *regexp.Regexp
}

// script is the list the rewrite directives of a scope append to: the if
// block's, the location's or the server's.
func (s *scope) script() *[]*Stmt {
	switch {
	case s.ifBody != nil:
		return s.ifBody
	case s.loc != nil:
		return &s.loc.loc.Script
	default:
		return &s.srv.srv.Script
	}
}

// set handles `set $VAR VALUE;`.
func (b *builder) set(d *Directive, s *scope) error {
	name := d.Args[0]
	if len(name) < 2 || name[0] != '$' {
		return d.errorf("invalid variable name %q", name)
	}
	sc := s.script()
	*sc = append(*sc, &Stmt{Pos: d.Pos(), Kind: StmtSet, Var: name[1:], Value: d.Args[1]})
	return nil
}

// rewrite handles `rewrite REGEX REPLACEMENT [last|break|redirect|permanent];`
// with ngx_http_rewrite's rules.
func (b *builder) rewrite(d *Directive, s *scope) error {
	repl := d.Args[1]
	if repl == "" {
		return d.errorf("empty replacement")
	}
	re, err := compileRegexp(d, d.Args[0], false)
	if err != nil {
		return err
	}
	st := &Stmt{Pos: d.Pos(), Kind: StmtRewrite, Regexp: re, KeepArgs: true}
	if strings.HasSuffix(repl, "?") {
		// the last "?" drops the original arguments
		repl, st.KeepArgs = repl[:len(repl)-1], false
	}
	if strings.HasPrefix(repl, "http://") || strings.HasPrefix(repl, "https://") || strings.HasPrefix(repl, "$scheme") {
		st.Flag = RewriteRedirect
	}
	if len(d.Args) == 3 {
		switch d.Args[2] {
		case "last":
			if st.Flag != RewriteRedirect {
				st.Flag = RewriteLast
			}
		case "break":
			if st.Flag != RewriteRedirect {
				st.Flag = RewriteBreak
			}
		case "redirect":
			st.Flag = RewriteRedirect
		case "permanent":
			st.Flag = RewritePermanent
		default:
			return d.invalidParam(d.Args[2])
		}
	}
	st.Value = repl
	sc := s.script()
	*sc = append(*sc, st)
	return nil
}

// rewriteBreak handles `break;`.
func (b *builder) rewriteBreak(d *Directive, s *scope) error {
	sc := s.script()
	*sc = append(*sc, &Stmt{Pos: d.Pos(), Kind: StmtBreak})
	return nil
}

// rewriteFlag handles rewrite_log and uninitialized_variable_warn: limpet
// logs no rewrite steps and warns of no uninitialized variable, so they
// are reported in Config.Ignored as the directives that tune nginx are.
func (b *builder) rewriteFlag(d *Directive, s *scope) error {
	return b.ignore(d, s)
}

// ifBlock handles `if (CONDITION) { ... }` in a server or location.
func (b *builder) ifBlock(d *Directive, s *scope) error {
	cond, err := parseCondition(d)
	if err != nil {
		return err
	}
	st := &Stmt{Pos: d.Pos(), Kind: StmtIf, Cond: cond}
	sc := s.script()
	*sc = append(*sc, st)
	if s.loc == nil {
		// A server's if: nginx's SIF context holds only the rewrite
		// directives, so its block changes no other setting.
		return b.walk(d.Block, &scope{where: inServerIf, proxy: s.proxy, access: s.access, limits: s.limits, srv: s.srv, ifBody: &st.Body})
	}
	parent := s.loc
	loc := &Location{Pos: d.Pos(), Modifier: parent.loc.Modifier, Path: parent.loc.Path, Regexp: parent.loc.Regexp}
	lc := &locationConf{loc: loc, inIf: true}
	// A child for the merge of settings (finishLocation), not a location
	// the router knows.
	parent.children = append(parent.children, lc)
	st.Location = loc
	return b.walk(d.Block, &scope{where: inLocationIf, proxy: &lc.proxy, access: &lc.access, limits: &lc.limits, srv: s.srv, loc: lc, ifBody: &st.Body})
}

// parseCondition reads the arguments of `if` as ngx_http_rewrite_if_condition
// does: "(" and ")" may stand alone or be glued to the first and last
// words.
func parseCondition(d *Directive) (*Condition, error) {
	args := append([]string(nil), d.Args...)
	if args[0] == "" || args[0][0] != '(' {
		return nil, d.errorf("invalid condition %q", args[0])
	}
	if args[0] == "(" {
		args = args[1:]
	} else {
		args[0] = args[0][1:]
	}
	if len(args) == 0 {
		return nil, d.errorf("invalid condition %q", d.Args[0])
	}
	last := len(args) - 1
	if args[last] == "" || args[last][len(args[last])-1] != ')' {
		return nil, d.errorf("invalid condition %q", args[last])
	}
	if args[last] == ")" {
		args = args[:last]
	} else {
		args[last] = args[last][:len(args[last])-1]
	}
	if len(args) == 0 {
		return nil, d.errorf("invalid condition %q", d.Args[0])
	}
	first := args[0]
	switch {
	case len(first) > 1 && first[0] == '$':
		if len(args) != 1 && len(args) != 3 {
			return nil, d.errorf("invalid condition %q", first)
		}
		c := &Condition{Var: first}
		if len(args) == 1 {
			c.Op = CondVar
			return c, nil
		}
		op, val := args[1], args[2]
		switch op {
		case "=":
			c.Op, c.Value = CondEq, val
		case "!=":
			c.Op, c.Value = CondNe, val
		case "~", "~*", "!~", "!~*":
			re, err := compileRegexp(d, val, strings.HasSuffix(op, "*"))
			if err != nil {
				return nil, err
			}
			c.Op, c.Regexp = CondMatch, re
			if op[0] == '!' {
				c.Op = CondNotMatch
			}
		default:
			return nil, d.errorf("unexpected %q in condition", op)
		}
		return c, nil
	case len(first) == 2 && first[0] == '-', len(first) == 3 && first[0] == '!' && first[1] == '-':
		if len(args) != 2 {
			return nil, d.errorf("invalid condition %q", first)
		}
		c := &Condition{Value: args[1], Negate: first[0] == '!'}
		switch first[len(first)-1] {
		case 'f':
			c.Op = CondFile
		case 'd':
			c.Op = CondDir
		case 'e':
			c.Op = CondExists
		case 'x':
			c.Op = CondExec
		default:
			return nil, d.errorf("invalid condition %q", first)
		}
		return c, nil
	}
	return nil, d.errorf("invalid condition %q", first)
}

// mapBlock handles `map SOURCE $VAR { ... }`. The block holds keys and
// values, not directives, so it is read here rather than through the
// table; `include` inside it was expanded with the files.
func (b *builder) mapBlock(d *Directive, s *scope) error {
	name := d.Args[1]
	if len(name) < 2 || name[0] != '$' {
		return d.errorf("invalid variable name %q", name)
	}
	m := &Map{Pos: d.Pos(), Source: d.Args[0], Var: name[1:]}
	seen := make(map[string]bool)
	var hostnames bool
	for _, e := range d.Block {
		if e.HasBlock {
			return e.errorf("unexpected \"{\"")
		}
		switch {
		case len(e.Args) == 0 && e.Name == "hostnames":
			hostnames = true
			m.Hostnames = true
			continue
		case len(e.Args) == 0 && e.Name == "volatile":
			m.Volatile = true
			continue
		case len(e.Args) != 1:
			return e.errorf("invalid number of the map parameters")
		}
		key, val := e.Name, e.Args[0]
		if key == "default" {
			if m.DefaultPos.Line != 0 {
				return e.errorf("duplicate default map parameter")
			}
			m.Default, m.DefaultPos = val, e.Pos()
			continue
		}
		if strings.HasPrefix(key, "~") {
			pattern := key[1:]
			caseless := strings.HasPrefix(pattern, "*")
			if caseless {
				pattern = pattern[1:]
			}
			re, err := compileRegexp(e, pattern, caseless)
			if err != nil {
				return err
			}
			m.Regexps = append(m.Regexps, MapEntry{Pos: e.Pos(), Key: pattern, Value: val, Regexp: re})
			continue
		}
		key = strings.TrimPrefix(key, `\`)
		// nginx's hash of keys is caseless (ngx_hash_add_key lowercases).
		norm := strings.ToLower(key)
		keys := []string{norm}
		if hostnames {
			k, err := hostnameKey(e, key)
			if err != nil {
				return err
			}
			keys = k
		}
		for _, k := range keys {
			if seen[k] {
				return e.errorf("conflicting parameter %q", key)
			}
		}
		for _, k := range keys {
			seen[k] = true
		}
		m.Entries = append(m.Entries, MapEntry{Pos: e.Pos(), Key: key, Value: val})
	}
	b.cfg.Maps = append(b.cfg.Maps, m)
	return nil
}

// hostnameKey checks a key of a `hostnames` map as ngx_hash_add_key does
// with NGX_HASH_WILDCARD_KEY and returns the keys it occupies, for the
// conflict check: ".example.com" is both "example.com" and
// "*.example.com".
func hostnameKey(e *Directive, key string) ([]string, error) {
	k := strings.ToLower(strings.TrimSuffix(key, "."))
	bad := func() ([]string, error) { return nil, e.errorf("invalid hostname or wildcard %q", key) }
	switch {
	case strings.HasPrefix(k, "*."):
		if len(k) == 2 || strings.Contains(k[2:], "*") {
			return bad()
		}
		return []string{k}, nil
	case strings.HasPrefix(k, "."):
		if len(k) == 1 || strings.Contains(k, "*") {
			return bad()
		}
		return []string{k[1:], "*" + k}, nil
	case strings.HasSuffix(k, ".*"):
		if len(k) == 2 || strings.Contains(k[:len(k)-2], "*") {
			return bad()
		}
		return []string{k}, nil
	case strings.Contains(k, "*"):
		return bad()
	}
	return []string{k}, nil
}

// inheritIf gives an if block's location what it inherits from the
// enclosing one beyond the merged settings: nginx gives an if without its
// own proxy_pass the enclosing location's (ngx_http_proxy_merge_loc_conf
// for "noname" locations), and the content of limpet's own handlers.
func inheritIf(loc, parent *Location) {
	if loc.ProxyPass == nil && loc.Return == nil {
		loc.ProxyPass = parent.ProxyPass
	}
	if loc.API == nil {
		loc.API = parent.API
	}
	loc.Metrics = loc.Metrics || parent.Metrics
	loc.Dashboard = loc.Dashboard || parent.Dashboard
	loc.LimitExcept = parent.LimitExcept
}
