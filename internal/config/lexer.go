package config

import (
	"strings"
	"unicode/utf8"
)

// tokenKind tells words from the three punctuation tokens of the language.
type tokenKind uint8

const (
	tokWord   tokenKind = iota // a directive name or argument, quotes removed
	tokSemi                    // ";" ends a simple directive
	tokLBrace                  // "{" opens a block
	tokRBrace                  // "}" closes a block
	tokEOF                     // end of input
)

// token is one lexical token and the line it starts on.
type token struct {
	kind tokenKind
	text string // the word, escapes applied; empty for punctuation
	line int
}

// lexer splits nginx configuration text into tokens. It follows
// ngx_conf_read_token in src/core/ngx_conf_file.c rather than a tidier
// grammar, so that every file nginx accepts reads the same here:
//
//   - words end at white space, ';' or '{', but not at '}' ("foo}" is one
//     word in nginx, and so here);
//   - '{' right after '$' belongs to the word, so "${var}" stays whole;
//   - '#' starts a comment only where a token could start ("a#b" is a word);
//   - a quoted string must be followed by white space, ';' or '{';
//   - a backslash protects the next character from ending the word, and
//     the escapes \" \' \\ \n \r \t are decoded in quoted and bare words
//     alike; any other backslash is kept as written (regexes need them).
type lexer struct {
	file string
	src  string
	pos  int // offset of the next byte to read
	line int // current line, 1-based; counts every '\n' read
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: string(src), line: 1}
}

// errorf builds an error at the lexer's current line, which is where nginx
// reports syntax errors.
func (lx *lexer) errorf(format string, a ...any) error {
	return errorAt(Pos{File: lx.file, Line: lx.line}, format, a...)
}

// isSpace reports nginx's token separators.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next returns the next token. At the end of input it returns tokEOF, or
// an error when a word or quoted string is left unfinished there.
func (lx *lexer) next() (token, error) {
	// Skip white space and comments up to the start of a token.
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '\n':
			lx.line++
			lx.pos++
		case isSpace(c):
			lx.pos++
		case c == '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
		case c == ';':
			lx.pos++
			return token{kind: tokSemi, line: lx.line}, nil
		case c == '{':
			lx.pos++
			return token{kind: tokLBrace, line: lx.line}, nil
		case c == '}':
			lx.pos++
			return token{kind: tokRBrace, line: lx.line}, nil
		case c == '"' || c == '\'':
			return lx.quoted(c)
		default:
			return lx.bare()
		}
	}
	return token{kind: tokEOF, line: lx.line}, nil
}

// bare reads an unquoted word.
func (lx *lexer) bare() (token, error) {
	start, line := lx.pos, lx.line
	variable := false // the previous byte was an unescaped '$'
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		if c == '{' && variable {
			lx.pos++
			continue
		}
		variable = false
		switch {
		case c == '\\':
			lx.pos++
			if lx.pos < len(lx.src) {
				if lx.src[lx.pos] == '\n' {
					lx.line++
				}
				lx.pos++
			}
			continue
		case c == '$':
			variable = true
		case isSpace(c) || c == ';' || c == '{':
			return token{kind: tokWord, text: unescape(lx.src[start:lx.pos]), line: line}, nil
		}
		lx.pos++
	}
	// A word cut by the end of input: nginx insists on a terminator.
	return token{}, lx.errorf(`unexpected end of file, expecting ";" or "}"`)
}

// quoted reads a string quoted with q, which is at lx.pos.
func (lx *lexer) quoted(q byte) (token, error) {
	line := lx.line
	lx.pos++
	start := lx.pos
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch c {
		case '\\':
			lx.pos++
			if lx.pos < len(lx.src) {
				if lx.src[lx.pos] == '\n' {
					lx.line++
				}
				lx.pos++
			}
			continue
		case '\n':
			lx.line++
		case q:
			text := unescape(lx.src[start:lx.pos])
			lx.pos++
			if err := lx.afterQuote(); err != nil {
				return token{}, err
			}
			return token{kind: tokWord, text: text, line: line}, nil
		}
		lx.pos++
	}
	return token{}, lx.errorf(`unexpected end of file, expecting ";" or "}"`)
}

// afterQuote checks the byte after a closing quote: nginx wants white space,
// ';' or '{' there (or ')', which it lets start the next word, for `if`),
// so `"a"b` and `"a"}` are errors rather than silently two tokens.
func (lx *lexer) afterQuote() error {
	if lx.pos >= len(lx.src) {
		return nil // the caller's next read reports the end of input
	}
	c := lx.src[lx.pos]
	if isSpace(c) || c == ';' || c == '{' || c == ')' {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
	if r == utf8.RuneError {
		return lx.errorf("unexpected %q", string(c))
	}
	return lx.errorf("unexpected %q", string(r))
}

// unescape decodes the escapes nginx decodes when it copies a token:
// \" \' \\ become the character, \n \r \t become control characters, and
// every other backslash stays, so `~ \.php$` reaches the regex intact.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '"', '\'', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
