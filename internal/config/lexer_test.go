package config

import (
	"testing"
)

// lexAll returns every token of src up to the end, or the first error.
func lexAll(src string) ([]token, error) {
	lx := newLexer("t.conf", []byte(src))
	var toks []token
	for {
		tok, err := lx.next()
		if err != nil {
			return toks, err
		}
		if tok.kind == tokEOF {
			return toks, nil
		}
		toks = append(toks, tok)
	}
}

func w(text string, line int) token { return token{kind: tokWord, text: text, line: line} }
func semi(line int) token           { return token{kind: tokSemi, line: line} }
func lb(line int) token             { return token{kind: tokLBrace, line: line} }
func rb(line int) token             { return token{kind: tokRBrace, line: line} }

func TestLexer(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []token
	}{
		{"empty", "", nil},
		{"simple", "listen 80;", []token{w("listen", 1), w("80", 1), semi(1)}},
		{"block", "server {\n}\n", []token{w("server", 1), lb(1), rb(2)}},
		{"no spaces around punctuation", "a b{c;}", []token{w("a", 1), w("b", 1), lb(1), w("c", 1), semi(1), rb(1)}},
		{"tabs and CRLF", "a\tb\r\nc;", []token{w("a", 1), w("b", 1), w("c", 2), semi(2)}},
		{"comment to end of line", "# x ; {\na; # b }\nc;", []token{w("a", 2), semi(2), w("c", 3), semi(3)}},
		{"hash inside a word is not a comment", "a#b;", []token{w("a#b", 1), semi(1)}},
		{"double quotes", `a "b c;{}" ;`, []token{w("a", 1), w("b c;{}", 1), semi(1)}},
		{"single quotes", `a 'b "c"';`, []token{w("a", 1), w(`b "c"`, 1), semi(1)}},
		{"empty quoted string", `a "";`, []token{w("a", 1), w("", 1), semi(1)}},
		{"quote then brace", `a "b"{`, []token{w("a", 1), w("b", 1), lb(1)}},
		{"quoted escapes", `a "q\"s\'b\\n\nt\tr\r";`, []token{w("a", 1), w("q\"s'b\\n\nt\tr\r", 1), semi(1)}},
		{"single quoted escape", `a 'it\'s';`, []token{w("a", 1), w("it's", 1), semi(1)}},
		{"other backslashes kept", `location ~ \.php$ {`, []token{w("location", 1), w("~", 1), w(`\.php$`, 1), lb(1)}},
		{"escapes in bare words", `a b\"c\\d\x;`, []token{w("a", 1), w(`b"c\d\x`, 1), semi(1)}},
		{"escaped semicolon stays in the word", `a b\;c;`, []token{w("a", 1), w(`b\;c`, 1), semi(1)}},
		{"variable braces", "a ${host}x;", []token{w("a", 1), w("${host}x", 1), semi(1)}},
		{"variable braces mid-word", "a x${b}y;", []token{w("a", 1), w("x${b}y", 1), semi(1)}},
		{"brace after word is a block", "a x{", []token{w("a", 1), w("x", 1), lb(1)}},
		{"closing brace does not end a word", "a b}\n;", []token{w("a", 1), w("b}", 1), semi(2)}},
		{"parenthesis after quote", `if ($a = "b") {`, []token{w("if", 1), w("($a", 1), w("=", 1), w("b", 1), w(")", 1), lb(1)}},
		{"multi-line quoted string keeps its start line", "a \"x\ny\" b;", []token{w("a", 1), w("x\ny", 1), w("b", 2), semi(2)}},
		{"line numbers", "\n\na\n\n;b;", []token{w("a", 3), semi(5), w("b", 5), semi(5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexAll(tt.src)
			if err != nil {
				t.Fatalf("lex %q: %v", tt.src, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("lex %q = %v, want %v", tt.src, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("lex %q token %d = %+v, want %+v", tt.src, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLexerErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unterminated double quote", "a \"b;\n\n", `unexpected end of file, expecting ";" or "}" in t.conf:3`},
		{"unterminated single quote", "a 'b", `unexpected end of file, expecting ";" or "}" in t.conf:1`},
		{"word at end of file", "a\nb", `unexpected end of file, expecting ";" or "}" in t.conf:2`},
		{"backslash at end of file", `a \`, `unexpected end of file, expecting ";" or "}" in t.conf:1`},
		{"word glued to a quote", `a "b"c;`, `unexpected "c" in t.conf:1`},
		{"brace glued to a quote", "a\n\"b\"};", `unexpected "}" in t.conf:2`},
		{"comment glued to a quote", `a "b"#c`, `unexpected "#" in t.conf:1`},
		{"non-ASCII glued to a quote", `a "b"é;`, `unexpected "é" in t.conf:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lexAll(tt.src)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("lex %q: error %v, want %s", tt.src, err, tt.want)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		``:          ``,
		`plain`:     `plain`,
		`\"`:        `"`,
		`\'`:        `'`,
		`\\`:        `\`,
		`\n\r\t`:    "\n\r\t",
		`\d+\.`:     `\d+\.`,
		`end\`:      `end\`,
		`\\n`:       `\n`,
		`a\\\"b`:    `a\"b`,
		`\$x`:       `\$x`,
		"multi\\\n": "multi\\\n",
	}
	for in, want := range tests {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
