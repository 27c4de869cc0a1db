package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a configuration error at a known place. Its text has nginx's
// form, `unknown directive "foo" in /etc/limpet.conf:12`, so an operator
// who knows nginx reads it the same way (the command line prefixes it with
// "limpet: [emerg] ").
type Error struct {
	// Pos is the file and line at fault.
	Pos Pos
	// Msg is nginx's wording of the problem, without the position.
	Msg string
	// err is the wrapped cause, if any (an *fs.PathError for an include
	// that cannot be read, for example), reachable through errors.Unwrap.
	err error
	// inline is set when Msg names the position itself, as a few of
	// nginx's messages do ("... upstream "u" in f.conf:3 to be in shared
	// memory"), so it is not repeated at the end.
	inline bool
}

// Error returns Msg followed by " in file:line", or Msg alone when it
// already names the position.
func (e *Error) Error() string {
	if e.inline {
		return e.Msg
	}
	return e.Msg + " in " + e.Pos.String()
}

// Unwrap returns the cause of the error, or nil.
func (e *Error) Unwrap() error { return e.err }

// errorAt builds an *Error at pos. The format may use %w; the wrapped error
// is kept for errors.Is and errors.As. String arguments are quoted by %q
// as nginx quotes them (see quoted). It returns the error interface (never
// a typed nil) so callers can return it directly.
func errorAt(pos Pos, format string, a ...any) error {
	args := make([]any, len(a))
	for i, v := range a {
		if s, ok := v.(string); ok {
			v = quoted(s)
		}
		args[i] = v
	}
	err := fmt.Errorf(format, args...)
	return &Error{Pos: pos, Msg: err.Error(), err: errors.Unwrap(err)}
}

// errorInline is errorAt for a message that names pos within its text.
func errorInline(pos Pos, format string, a ...any) error {
	err := errorAt(pos, format, a...)
	err.(*Error).inline = true
	return err
}

// errorf builds an error located at the directive. Every error about a
// directive goes through here, so none can lack its file and line.
func (d *Directive) errorf(format string, a ...any) error {
	return errorAt(d.Pos(), format, a...)
}

// duplicate is nginx's error for a single-valued directive given twice in
// the same block.
func (d *Directive) duplicate() error {
	return d.errorf("%q directive is duplicate", d.Name)
}

// invalidValue is nginx's "invalid value" error for a directive whose
// time, size or number argument does not parse.
func (d *Directive) invalidValue() error {
	return d.errorf("%q directive invalid value", d.Name)
}

// invalidArg is the error for an argument outside the directive's set of
// accepted values.
func (d *Directive) invalidArg(arg string) error {
	return d.errorf("invalid value %q in %q directive", arg, d.Name)
}

// invalidParam is nginx's error for a bad `key=value` or keyword parameter.
func (d *Directive) invalidParam(param string) error {
	return d.errorf("invalid parameter %q", param)
}

// quoted is a string that %q formats the way nginx writes values in its
// messages: between double quotes, backslashes and quotes left alone, so
// `duplicate location "\.php$"` reads as the file does. Only control
// characters and invalid UTF-8 are escaped, to keep a message on one line.
// Other verbs print the string unchanged.
type quoted string

// Format implements fmt.Formatter.
func (q quoted) Format(f fmt.State, verb rune) {
	if verb != 'q' {
		fmt.Fprint(f, string(q))
		return
	}
	var b strings.Builder
	b.WriteByte('"')
	for s := string(q); s != ""; {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r < ' ' || r == 0x7f:
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	b.WriteByte('"')
	fmt.Fprint(f, b.String())
}
