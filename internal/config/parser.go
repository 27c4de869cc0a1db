package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode"
)

// Directive is one node of the generic configuration tree: a name, its
// arguments and, for block directives, the directives inside the braces.
// The tree knows nothing of what directives mean; directives.go does.
type Directive struct {
	Name string
	// Args are the arguments after the name, quotes removed and escapes
	// decoded.
	Args []string
	// Block holds the directives between the braces.
	Block []*Directive
	// HasBlock tells `name {}` (an empty block) from `name;`.
	HasBlock bool
	// File and Line locate the directive's name in its source file.
	File string
	Line int
}

// Pos returns where the directive stands.
func (d *Directive) Pos() Pos { return Pos{File: d.File, Line: d.Line} }

// maxIncludeDepth bounds nested includes. nginx has no bound and fails only
// when it runs out of file descriptors; we stop well before that.
const maxIncludeDepth = 32

// Parse reads src, the text of filename, into a tree of directives.
// filename only labels positions; nothing is read from disk, so `include`
// directives stay in the tree as written (Load expands them).
func Parse(filename string, src []byte) ([]*Directive, error) {
	lx := newLexer(filename, src)
	// The stack of open blocks replaces recursion, so deeply nested input
	// cannot exhaust the stack. stack[0] is the file's top level.
	type open struct {
		d    *Directive // nil for the top level
		list []*Directive
	}
	stack := []open{{}}
	var args []string
	var line int // line of the directive being read (its name)
	for {
		tok, err := lx.next()
		if err != nil {
			return nil, err
		}
		top := &stack[len(stack)-1]
		switch tok.kind {
		case tokWord:
			if args == nil {
				line = tok.line
				args = make([]string, 0, 4)
			}
			args = append(args, tok.text)
		case tokSemi, tokLBrace:
			if args == nil {
				if tok.kind == tokSemi {
					return nil, lx.errorf(`unexpected ";"`)
				}
				return nil, lx.errorf(`unexpected "{"`)
			}
			d := &Directive{Name: args[0], File: filename, Line: line}
			if len(args) > 1 {
				d.Args = args[1:]
			}
			args = nil
			top.list = append(top.list, d)
			if tok.kind == tokLBrace {
				d.HasBlock = true
				stack = append(stack, open{d: d})
			}
		case tokRBrace:
			if args != nil || top.d == nil {
				return nil, lx.errorf(`unexpected "}"`)
			}
			top.d.Block = top.list
			stack = stack[:len(stack)-1]
		case tokEOF:
			if args != nil {
				return nil, lx.errorf(`unexpected end of file, expecting ";" or "}"`)
			}
			if top.d != nil {
				return nil, lx.errorf(`unexpected end of file, expecting "}"`)
			}
			return top.list, nil
		}
	}
}

// includer expands `include` directives, reading files from disk.
type includer struct {
	// dir is the directory of the main configuration file, against which
	// relative patterns resolve wherever the include is written, as nginx
	// resolves them against its configuration prefix.
	dir string
	// stack holds the cleaned absolute paths of the files being read, to
	// catch an include cycle before it reaches the depth bound.
	stack []string
}

// expand returns ds with every include replaced, recursively, by the
// directives of the files it names, in glob order (sorted, like glob(3)).
func (in *includer) expand(ds []*Directive) ([]*Directive, error) {
	var out []*Directive
	for _, d := range ds {
		if d.Name != "include" {
			if d.HasBlock {
				block, err := in.expand(d.Block)
				if err != nil {
					return nil, err
				}
				d.Block = block
			}
			out = append(out, d)
			continue
		}
		// include is NGX_CONF_TAKE1 in every context.
		if d.HasBlock {
			return nil, d.errorf(`directive "include" is not terminated by ";"`)
		}
		if len(d.Args) != 1 {
			return nil, d.errorf(`invalid number of arguments in "include" directive`)
		}
		files, err := in.files(d)
		if err != nil {
			return nil, err
		}
		for _, name := range files {
			inc, err := in.file(d, name)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
		}
	}
	return out, nil
}

// files lists the files an include names. A pattern with glob characters
// may match nothing; a plain path must exist, which the read then checks.
func (in *includer) files(d *Directive) ([]string, error) {
	pattern := d.Args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(in.dir, pattern)
	}
	if !strings.ContainsAny(pattern, "*?[") {
		return []string{pattern}, nil
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, d.errorf("glob() %q failed (%w)", pattern, err)
	}
	// glob(3) skips dot files unless the pattern itself starts with a dot;
	// Go's Glob does not, and editors leave dot files (".x.conf.swp") about.
	if !strings.HasPrefix(filepath.Base(pattern), ".") {
		matches = slices.DeleteFunc(matches, func(m string) bool {
			return strings.HasPrefix(filepath.Base(m), ".")
		})
	}
	return matches, nil
}

// file reads, parses and expands one included file.
func (in *includer) file(d *Directive, name string) ([]*Directive, error) {
	key := absPath(name)
	if slices.Contains(in.stack, key) {
		return nil, d.errorf("include cycle: %q includes itself", name)
	}
	if len(in.stack) > maxIncludeDepth {
		return nil, d.errorf("includes nested deeper than %d levels", maxIncludeDepth)
	}
	src, err := os.ReadFile(name)
	if err != nil {
		bname, bsrc, ok := builtinInclude(d, err)
		if !ok {
			return nil, d.errorf("%w", openError(name, err))
		}
		name, src = bname, bsrc // mimetypes.go
	}
	tree, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	in.stack = append(in.stack, key)
	defer func() { in.stack = in.stack[:len(in.stack)-1] }()
	return in.expand(tree)
}

// openError words a failed read as nginx does:
// `open() "/etc/limpet/x.conf" failed (2: No such file or directory)`.
// It wraps err, so errors.Is(err, fs.ErrNotExist) still holds.
func openError(name string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("open() %q failed (%d: %s)%w", quoted(name), int(errno), strerror(errno), silent{err})
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("open() %q failed (%w)", quoted(name), pe.Err)
	}
	return fmt.Errorf("open() %q failed (%w)", quoted(name), err)
}

// silent wraps an error without adding to the message, so openError can
// word the message as nginx does and still keep the cause for errors.Is.
type silent struct{ err error }

func (s silent) Error() string { return "" }
func (s silent) Unwrap() error { return s.err }

// strerror capitalises Go's lower-case errno text to match the C library's
// strerror, which nginx prints: "No such file or directory".
func strerror(e syscall.Errno) string {
	s := e.Error()
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// absPath cleans name into an absolute path for cycle detection; if the
// working directory is unknown the cleaned name is good enough.
func absPath(name string) string {
	if abs, err := filepath.Abs(name); err == nil {
		return abs
	}
	return filepath.Clean(name)
}
