package config

import (
	"errors"
	"strings"
	"testing"
)

// renderTokens writes tokens back as text the lexer reads: every word
// double-quoted with '\' and '"' escaped, punctuation as itself.
func renderTokens(toks []token) string {
	var b strings.Builder
	for _, tok := range toks {
		switch tok.kind {
		case tokWord:
			b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(tok.text) + `" `)
		case tokSemi:
			b.WriteString("; ")
		case tokLBrace:
			b.WriteString("{ ")
		case tokRBrace:
			b.WriteString("} ")
		}
	}
	return b.String()
}

// FuzzLex runs the lexer alone, on text the parser may refuse (unbalanced
// braces, words without terminators). It checks that:
//   - tokens come with non-decreasing lines, and at the end of input the
//     lexer has counted every '\n' of the text, in comments, quotes and
//     escapes included;
//   - an error is a config error on a line of the text;
//   - a bare word is never empty;
//   - the words, quoted and escaped, lex back to the same tokens.
func FuzzLex(f *testing.F) {
	for _, s := range []string{"", "a;", "a b{c;}", "a \"b\\\"c\" 'd\\'e' ${f}g \\;;", "# c\na #b\n;", "a b\\\nc;",
		"a \"x\ny\" b;", "\"a\"b", "a ${ {;", "a b}\n;", "}}}{{{;;;", "a \"\\\\n\";", "a '", "if ($a = \"b\") {", "\xff \"\xfe\"x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Count(src, "\n") + 1
		lx := newLexer("f.conf", []byte(src))
		var toks []token
		last := 1
		for {
			tok, err := lx.next()
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) || ce.Pos.File != "f.conf" || ce.Pos.Line < 1 || ce.Pos.Line > lines || ce.Msg == "" {
					t.Fatalf("error %v has no position in the text", err)
				}
				return
			}
			if tok.line < last || tok.line > lines {
				t.Fatalf("token %+v after line %d, text has %d lines", tok, last, lines)
			}
			last = tok.line
			if tok.kind == tokEOF {
				break
			}
			toks = append(toks, tok)
		}
		if lx.line != lines {
			t.Fatalf("lexer ended on line %d, text has %d lines", lx.line, lines)
		}
		for _, tok := range toks {
			if tok.kind == tokWord && tok.text == "" && !strings.ContainsAny(src, `"'`) {
				t.Fatalf("empty bare word in %q", src)
			}
		}
		text := renderTokens(toks)
		again, err := lexAll(text)
		if err != nil {
			t.Fatalf("rendered tokens %q do not lex: %v", text, err)
		}
		if len(again) != len(toks) {
			t.Fatalf("rendered tokens %q lex to %d tokens, were %d", text, len(again), len(toks))
		}
		for i := range toks {
			if again[i].kind != toks[i].kind || again[i].text != toks[i].text {
				t.Fatalf("token %d: %+v read back as %+v from %q", i, toks[i], again[i], text)
			}
		}
	})
}
