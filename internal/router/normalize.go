package router

import (
	"errors"
	"fmt"
)

// ErrInvalidPath is wrapped by every NormalizePath error; the proxy answers
// such requests with 400 Bad Request, as nginx does.
var ErrInvalidPath = errors.New("invalid request path")

// NormalizePath turns the escaped path of a request (URL.EscapedPath) into
// the URI nginx matches locations against (ngx_http_parse_complex_uri with
// merge_slashes on): percent-escapes decoded, runs of '/' merged, "." and
// ".." segments resolved.
//
// As in nginx, decoding happens before the other steps, so "%2F" is a '/'
// and "%2e%2e" is "..": location matching cannot be bypassed by escaping.
// Only a decoded '%', '#' or '?' stays an ordinary character. A path that
// climbs above the root, does not start with '/', holds a bad escape or an
// escaped NUL is an error wrapping ErrInvalidPath. The empty path of an
// absolute-form request ("GET http://host HTTP/1.1") is "/".
//
// A path that needs no change is returned as is, without allocating.
func NormalizePath(escapedPath string) (string, error) {
	p := escapedPath
	if p == "" {
		return "/", nil
	}
	if p[0] != '/' {
		return "", fmt.Errorf("%w %q: does not start with \"/\"", ErrInvalidPath, p)
	}
	if isNormal(p) {
		return p, nil
	}

	const (
		usual = iota
		slash
		dot
		dotDot
		quoted
		quotedSecond
	)
	state, quotedState := usual, usual
	var decoded byte
	u := make([]byte, 0, len(p))

	// climb drops the segment before a "/.." just written, keeping the
	// slash before it; it fails when there is no segment left to drop.
	climb := func() error {
		// u ends with "/..": start at the byte before that slash.
		for j := len(u) - 4; j >= 0; j-- {
			if u[j] == '/' {
				u = u[:j+1]
				return nil
			}
		}
		return fmt.Errorf("%w %q: climbs above the root", ErrInvalidPath, p)
	}

	for i := 0; i < len(p); i++ {
		ch := p[i]
	again:
		switch state {
		case usual:
			switch ch {
			case '/':
				state = slash
				u = append(u, ch)
			case '%':
				quotedState, state = state, quoted
			default:
				u = append(u, ch)
			}
		case slash:
			switch ch {
			case '/':
				// merge_slashes: drop it.
			case '.':
				state = dot
				u = append(u, ch)
			case '%':
				quotedState, state = state, quoted
			default:
				state = usual
				u = append(u, ch)
			}
		case dot:
			switch ch {
			case '/':
				// "/./": drop the dot, keep the slash already written.
				state = slash
				u = u[:len(u)-1]
			case '.':
				state = dotDot
				u = append(u, ch)
			case '%':
				quotedState, state = state, quoted
			default:
				state = usual
				u = append(u, ch)
			}
		case dotDot:
			switch ch {
			case '/':
				if err := climb(); err != nil {
					return "", err
				}
				state = slash
			case '%':
				quotedState, state = state, quoted
			default:
				state = usual
				u = append(u, ch)
			}
		case quoted:
			v, ok := unhex(ch)
			if !ok {
				return "", fmt.Errorf("%w %q: bad escape", ErrInvalidPath, p)
			}
			decoded = v
			state = quotedSecond
		case quotedSecond:
			v, ok := unhex(ch)
			if !ok {
				return "", fmt.Errorf("%w %q: bad escape", ErrInvalidPath, p)
			}
			ch = decoded<<4 | v
			switch ch {
			case 0:
				return "", fmt.Errorf("%w %q: escaped NUL", ErrInvalidPath, p)
			case '%', '#', '?':
				// Literal, never re-read as syntax.
				state = usual
				u = append(u, ch)
			default:
				// Feed the decoded byte to the state the escape
				// interrupted, so "%2F" separates and "%2e" is a dot.
				state = quotedState
				goto again
			}
		}
	}

	switch state {
	case quoted, quotedSecond:
		return "", fmt.Errorf("%w %q: bad escape", ErrInvalidPath, p)
	case dot:
		u = u[:len(u)-1] // trailing "/." -> "/"
	case dotDot:
		if err := climb(); err != nil {
			return "", err
		}
	}
	return string(u), nil
}

// isNormal reports whether p (starting with '/') is already normalized:
// no escape, no "//", no "." or ".." segment. It errs on the side of
// false ("/..a" takes the slow path), which is only slower.
func isNormal(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%':
			return false
		case '/':
			if i+1 < len(p) {
				switch p[i+1] {
				case '/':
					return false
				case '.':
					if i+2 == len(p) || p[i+2] == '/' || p[i+2] == '.' {
						return false
					}
				}
			}
		}
	}
	return true
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
