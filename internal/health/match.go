package health

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
)

// matcher tests a response against a `match` block. A nil matcher is the
// default test: status 2xx or 3xx.
//
// A match block replaces the default entirely: a block without `status`
// lines accepts any status, as in nginx, where only the listed tests are
// made.
type matcher struct {
	name    string
	status  []config.StatusMatch
	headers []headerTest
	bodies  []config.BodyMatch
}

// headerTest is one `header` line, its regular expression compiled.
type headerTest struct {
	config.HeaderMatch
	err error // Value did not compile (a config built by hand); the test fails
}

// newMatcher returns the matcher of m, or nil (the default) for nil.
func newMatcher(m *config.Match) *matcher {
	if m == nil {
		return nil
	}
	mt := &matcher{name: m.Name, status: m.Status, bodies: m.Bodies}
	for _, h := range m.Headers {
		ht := headerTest{HeaderMatch: h}
		if (h.Op == "~" || h.Op == "!~") && h.Regexp == nil {
			ht.Regexp, ht.err = regexp.Compile(h.Value)
		}
		mt.headers = append(mt.headers, ht)
	}
	return mt
}

// needsBody reports whether the test looks at the body.
func (m *matcher) needsBody() bool { return m != nil && len(m.bodies) > 0 }

// test reports whether a response with status, header and body (its first
// maxBody bytes) passes; if not, reason says which condition failed.
func (m *matcher) test(status int, h http.Header, body []byte) (passed bool, reason string) {
	if m == nil {
		if status >= 200 && status <= 399 {
			return true, ""
		}
		return false, fmt.Sprintf("status %d is not 2xx or 3xx", status)
	}
	for _, sm := range m.status {
		if !statusMatches(sm, status) {
			return false, m.failed(status, statusText(sm), "")
		}
	}
	for _, ht := range m.headers {
		if !ht.matches(h) {
			got := "absent"
			if vs := h.Values(ht.Name); len(vs) > 0 {
				got = strconv.Quote(strings.Join(vs, ", "))
			}
			if ht.err != nil {
				got = ht.err.Error()
			}
			return false, m.failed(status, ht.text(), ht.Name+": "+got)
		}
	}
	for _, b := range m.bodies {
		if b.Regexp == nil || b.Regexp.Match(body) == b.Not {
			return false, m.failed(status, bodyText(b), "")
		}
	}
	return true, ""
}

// failed words a failed condition: `status 200: fails "header X = y" of
// match "name" (X: "z")`.
func (m *matcher) failed(status int, cond, detail string) string {
	s := fmt.Sprintf("status %d: fails %q of match %q", status, cond, m.name)
	if detail != "" {
		s += " (" + detail + ")"
	}
	return s
}

// statusMatches reports whether status is in one of sm's ranges, or in
// none of them for `status ! ...`.
func statusMatches(sm config.StatusMatch, status int) bool {
	in := slices.ContainsFunc(sm.Ranges, func(r config.StatusRange) bool {
		return status >= r.Lo && status <= r.Hi
	})
	return in != sm.Not
}

// matches reports whether the header line holds. `=` and `~` need one
// value of the field to match; `!=` and `!~` need the field present with
// no value matching ("header contains X with value other than ...").
func (ht *headerTest) matches(h http.Header) bool {
	vs := h.Values(ht.Name)
	switch ht.Op {
	case "":
		return len(vs) > 0
	case "!":
		return len(vs) == 0
	case "=", "!=":
		eq := slices.Contains(vs, ht.Value)
		if ht.Op == "=" {
			return eq
		}
		return len(vs) > 0 && !eq
	case "~", "!~":
		if ht.Regexp == nil {
			return false
		}
		found := slices.ContainsFunc(vs, ht.Regexp.MatchString)
		if ht.Op == "~" {
			return found
		}
		return len(vs) > 0 && !found
	}
	return false // unknown operator: fail closed
}

// text renders the header line as written in the configuration.
func (ht *headerTest) text() string {
	switch ht.Op {
	case "":
		return "header " + ht.Name
	case "!":
		return "header ! " + ht.Name
	}
	return "header " + ht.Name + " " + ht.Op + " " + ht.Value
}

// statusText renders a status line as written in the configuration.
func statusText(sm config.StatusMatch) string {
	var b strings.Builder
	b.WriteString("status")
	if sm.Not {
		b.WriteString(" !")
	}
	for _, r := range sm.Ranges {
		b.WriteString(" " + strconv.Itoa(r.Lo))
		if r.Hi != r.Lo {
			b.WriteString("-" + strconv.Itoa(r.Hi))
		}
	}
	return b.String()
}

// bodyText renders a body line as written in the configuration.
func bodyText(b config.BodyMatch) string {
	op := "~"
	if b.Not {
		op = "!~"
	}
	re := "<nil>"
	if b.Regexp != nil {
		re = strconv.Quote(b.Regexp.String())
	}
	return "body " + op + " " + re
}
