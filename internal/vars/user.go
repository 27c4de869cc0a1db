package vars

import (
	"fmt"
	"regexp"
	"strings"
)

// A configuration's own variables — those `set` assigns, those `map`
// defines and the named captures of its regular expressions — are not in
// the builtin tables: each configuration has a Registry of them, which
// its templates are compiled against, and each request a Values holding
// their values and the captures of the last regex that matched
// ($0 to $9), as nginx keeps r->variables and r->captures. Templates
// compiled without a Registry (Compile) keep rejecting both, and cost
// nothing more than before.

// Getter computes the value of a variable (a map). It returns a string
// rather than appending to the caller's buffer, so that the buffers of
// the request path do not escape through the call of a function value.
type Getter func(r *Request) string

// userVar is one variable of a Registry.
type userVar struct {
	name string
	slot int
	// reg is the registry that defined the variable, so a value is read
	// only from a Values sized for that registry (appendUser).
	reg *Registry
	// get computes the value (a map); nil for set and named captures,
	// whose value is what was last stored, empty before.
	get Getter
	// volatile values are computed on every use instead of once per
	// request (map's `volatile`).
	volatile bool
	// fallback is the builtin a `set` of a prefix variable ($http_x,
	// $arg_x, $cookie_x) shadows: its value until the set runs, as in
	// nginx.
	fallback *segment
}

// Registry is the set of variables one configuration defines. It is
// filled while the configuration is compiled and read-only afterwards,
// so requests share it without locking.
type Registry struct {
	index map[string]*userVar
	vars  []*userVar
	// captures is set once a template uses $0 to $9.
	captures bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{index: make(map[string]*userVar)} }

// Len is the number of variables defined.
func (g *Registry) Len() int {
	if g == nil {
		return 0
	}
	return len(g.vars)
}

// UsesCaptures reports whether a template compiled against g refers to
// a regex capture, so the proxy knows to record them.
func (g *Registry) UsesCaptures() bool { return g != nil && g.captures }

// Define declares a variable that `set` or a named capture assigns, and
// returns its slot. Defining a name twice returns the same slot; a
// builtin variable cannot be redefined (nginx's "the duplicate "host"
// variable").
func (g *Registry) Define(name string) (int, error) {
	lower := strings.ToLower(name)
	if uv, ok := g.index[lower]; ok {
		return uv.slot, nil
	}
	if _, builtin := simple[lower]; builtin {
		return 0, fmt.Errorf("the duplicate %q variable", lower)
	}
	uv := &userVar{name: lower, slot: len(g.vars), reg: g}
	if seg, err := resolve(lower); err == nil {
		uv.fallback = &seg
	}
	g.index[lower] = uv
	g.vars = append(g.vars, uv)
	return uv.slot, nil
}

// DefineComputed declares a variable whose value get computes, once per
// request unless volatile (a map). A name already computed is an error,
// as is a builtin name.
func (g *Registry) DefineComputed(name string) (int, error) {
	slot, err := g.Define(name)
	if err != nil {
		return 0, err
	}
	if g.vars[slot].get != nil {
		return 0, fmt.Errorf("the duplicate %q variable", g.vars[slot].name)
	}
	// A placeholder until SetGetter: the values of maps may refer to
	// other maps defined later, so all are declared first.
	g.vars[slot].get = func(*Request) string { return "" }
	return slot, nil
}

// SetGetter sets how a variable declared with DefineComputed is computed.
func (g *Registry) SetGetter(slot int, get Getter, volatile bool) {
	g.vars[slot].get, g.vars[slot].volatile = get, volatile
}

// Compile compiles s as the package's Compile does, with the variables
// of g and the regex captures $0 to $9 allowed too.
func (g *Registry) Compile(s string) (*Template, error) { return compile(s, g) }

// CompileRewrite compiles a rewrite's replacement: as Compile, except
// that captures written after its first '?' (all of them, for a redirect)
// are escaped as nginx escapes arguments when the request's URI was
// itself escaped (Values.Quoted): a "%26" the client sent stays "%26" in
// the new arguments instead of splitting them at '&'.
func (g *Registry) CompileRewrite(s string, redirect bool) (*Template, error) {
	t, err := compile(s, g)
	if err != nil {
		return nil, err
	}
	inArgs := redirect
	for i := range t.segs {
		seg := &t.segs[i]
		switch {
		case seg.kind == kLiteral && strings.Contains(seg.text, "?"):
			inArgs = true
		case seg.kind == kCapture && inArgs:
			seg.text = escapeArgs
		}
	}
	return t, nil
}

// escapeArgs marks a capture segment escaped as arguments.
const escapeArgs = "args"

// CaptureSlots defines a variable for every named group of re and
// returns, by group number, its slot, or -1 for an unnamed group; nil when
// re has no named group.
func (g *Registry) CaptureSlots(re *regexp.Regexp) ([]int, error) {
	names := re.SubexpNames()
	var slots []int
	for i, n := range names {
		if n == "" || i == 0 {
			continue
		}
		if slots == nil {
			slots = make([]int, len(names))
			for j := range slots {
				slots[j] = -1
			}
		}
		slot, err := g.Define(n)
		if err != nil {
			return nil, err
		}
		slots[i] = slot
	}
	return slots, nil
}

// resolve turns a name into a segment: a capture, a variable of g, or a
// builtin. Called on a nil Registry it is the builtin resolve.
func (g *Registry) resolve(name string) (segment, error) {
	if g == nil {
		return resolve(name)
	}
	if c := name[0]; c >= '0' && c <= '9' {
		g.captures = true
		return segment{kind: kCapture, n: int(c - '0')}, nil
	}
	if uv, ok := g.index[strings.ToLower(name)]; ok {
		return segment{kind: kUser, n: uv.slot, uv: uv}, nil
	}
	return resolve(name)
}

// Values is one request's values of its configuration's variables, and
// the captures of the regex that matched last.
type Values struct {
	vals []value
	// reg is the registry Init sized vals for. A template compiled
	// against another one (a policy or zone of the configuration that a
	// reload put in place while this request runs on the previous one)
	// finds its variables here by name instead of by slot.
	reg *Registry
	// small holds vals when the configuration has few variables, so a
	// request allocates one Values and no slice.
	small [8]value
	// subject and caps are the string the last regex matched and the
	// submatch indexes (FindStringSubmatchIndex).
	subject string
	caps    []int
	// Quoted is nginx's quoted_uri or plus_in_uri: the request's path
	// held a '%' escape or a '+', so captures in rewritten arguments are
	// escaped (Registry.CompileRewrite).
	Quoted bool
	// depth bounds maps computed from maps, so a map defined by itself
	// ends instead of recursing for ever (nginx reports "cycle while
	// evaluating variable").
	depth int
}

type value struct {
	s  string
	ok bool
}

// Init sizes v for g, reusing its storage; a request calls it once.
func (v *Values) Init(g *Registry) {
	n := g.Len()
	if n <= len(v.small) {
		v.small = [8]value{}
		v.vals = v.small[:n]
	} else if cap(v.vals) >= n {
		v.vals = v.vals[:n]
		clear(v.vals)
	} else {
		v.vals = make([]value, n)
	}
	v.reg = g
	v.subject, v.caps, v.depth, v.Quoted = "", nil, 0, false
}

// Set stores the value of the variable in slot (set, a named capture).
func (v *Values) Set(slot int, s string) { v.vals[slot] = value{s: s, ok: true} }

// Match runs re on s and, when it matches, records its captures for $0
// to $9 and the variables of its named groups (slots, from CaptureSlots).
func (v *Values) Match(re *regexp.Regexp, slots []int, s string) bool {
	idx := re.FindStringSubmatchIndex(s)
	if idx == nil {
		return false
	}
	v.SetCaptures(s, idx, slots)
	return true
}

// SetCaptures records a match already made: subject, its submatch
// indexes, and the slots of the named groups.
func (v *Values) SetCaptures(subject string, idx []int, slots []int) {
	v.subject, v.caps = subject, idx
	for i, slot := range slots {
		if slot < 0 {
			continue
		}
		if a, b := idx[2*i], idx[2*i+1]; a >= 0 {
			v.Set(slot, subject[a:b])
		} else {
			v.Set(slot, "")
		}
	}
}

// Capture returns capture n of the last match ("" when there is none).
func (v *Values) Capture(n int) string {
	if v == nil || 2*n+1 >= len(v.caps) || v.caps[2*n] < 0 {
		return ""
	}
	return v.subject[v.caps[2*n]:v.caps[2*n+1]]
}

// maxDepth bounds nested computed variables.
const maxDepth = 16

func appendUser(dst []byte, seg *segment, r *Request) []byte {
	v := r.User
	uv := seg.uv
	if v != nil && uv.reg != v.reg {
		// Across a reload the slots of two registries differ: the
		// request's own registry says what the name is for it (empty,
		// or the builtin a set shadows, when it does not define it).
		uv = v.reg.lookup(uv)
	}
	if v == nil || uv.reg != v.reg || uv.slot >= len(v.vals) {
		if uv.fallback != nil {
			return appendVar(dst, uv.fallback, r)
		}
		return dst
	}
	if val := v.vals[uv.slot]; val.ok {
		return append(dst, val.s...)
	}
	if uv.get == nil && uv.fallback != nil {
		return appendVar(dst, uv.fallback, r)
	}
	if uv.get == nil || v.depth >= maxDepth {
		return dst // an uninitialized variable is empty, as in nginx
	}
	v.depth++
	s := uv.get(r)
	v.depth--
	if !uv.volatile {
		v.vals[uv.slot] = value{s: s, ok: true}
	}
	return append(dst, s...)
}

// lookup returns g's variable of uv's name, or uv itself when g (which
// may be nil) does not define it.
func (g *Registry) lookup(uv *userVar) *userVar {
	if g != nil {
		if own, ok := g.index[uv.name]; ok {
			return own
		}
	}
	return uv
}

func appendCapture(dst []byte, seg *segment, r *Request) []byte {
	c := r.User.Capture(seg.n)
	if seg.text == escapeArgs && r.User.Quoted {
		return appendEscapedArgs(dst, c)
	}
	return append(dst, c...)
}

// appendEscapedArgs escapes s as ngx_escape_uri's NGX_ESCAPE_ARGS does:
// controls, space, '"', '#', '%', '&', '+', ';', '<', '>', '?', '\',
// '^', '`', '{', '|', '}', DEL and every byte above 0x7f.
func appendEscapedArgs(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"#%&+;<>?\\^`{|}", c) >= 0 {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
