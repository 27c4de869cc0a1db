package health

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

// noDNS keeps a fuzzed configuration from resolving names.
var noDNS = config.Options{LookupHost: func(context.Context, string) ([]string, error) {
	return nil, errors.New("no DNS in fuzzing")
}}

// FuzzMatch builds `match m { BLOCK }` from text, as a configuration
// would, then tests responses against it. Beyond not panicking:
//   - a configuration error names f.conf and a line of the text;
//   - the verdict of each condition flips when its operator is negated
//     ("status" and "status !", "header X" and "header ! X", "=" and
//     "!=", "~" and "!~" for a header present), and no comparison holds
//     on a response without the field;
//   - a failure has a reason naming the match, a pass none;
//   - the status lines, rendered as the configuration writes them, read
//     back to the same ranges.
func FuzzMatch(f *testing.F) {
	f.Add("status 200-399 ! 204;", uint16(204), "Content-Type: text/html\r\n", []byte("ok"))
	f.Add("status ! 500-599; header Content-Type ~ \"^text/\"; body !~ error;", uint16(200), "Content-Type: text/plain\r\n", []byte("fine"))
	f.Add("header X-A; header ! X-B; header X-C = v; header X-D != w;", uint16(302), "X-A: 1\r\nX-C: v\r\nX-D: w\r\nX-D: z\r\n", []byte{})
	f.Add("header X ~ (; }", uint16(0), "", []byte{})
	f.Add("status 99 600;", uint16(99), "", []byte{})
	f.Add("require $a;", uint16(200), "", []byte{})
	f.Add("body ~ \"\\\\d{3}\"; status 100;", uint16(100), "", []byte("123"))
	f.Fuzz(func(t *testing.T, block string, status uint16, head string, body []byte) {
		if strings.Contains(block, "include") {
			return // would read files
		}
		src := "match m {\n" + block + "\n}\n"
		cfg, err := config.LoadBytes("/nonexistent/f.conf", []byte(src), noDNS)
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Pos.File != "/nonexistent/f.conf" || ce.Pos.Line < 1 || ce.Pos.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("error %v has no position in the text", err)
			}
			return
		}
		m := cfg.Matches["m"]
		if m == nil {
			return // the block closed the match and renamed things
		}
		h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(head + "\r\n"))).ReadMIMEHeader()
		if err != nil {
			h = nil
		}
		hdr := http.Header(h)
		code := int(status % 1000)

		mt := newMatcher(m)
		passed, reason := mt.test(code, hdr, body)
		if passed != (reason == "") || !passed && !strings.Contains(reason, `of match "m"`) {
			t.Fatalf("test = %t, %q", passed, reason)
		}
		for _, sm := range m.Status {
			flipped := sm
			flipped.Not = !sm.Not
			if statusMatches(sm, code) == statusMatches(flipped, code) {
				t.Fatalf("%q and its negation agree on %d", statusText(sm), code)
			}
		}
		negate := map[string]string{"": "!", "!": "", "=": "!=", "!=": "=", "~": "!~", "!~": "~"}
		for _, ht := range mt.headers {
			opposite := ht
			opposite.Op = negate[ht.Op]
			present := len(hdr.Values(ht.Name)) > 0
			if (present || ht.Op == "" || ht.Op == "!") && ht.matches(hdr) == opposite.matches(hdr) {
				t.Fatalf("%q and its negation agree on %v", ht.text(), hdr)
			}
			// Comparisons, negated ones included, need the field.
			if !present && ht.Op != "!" && ht.Op != "" && ht.matches(hdr) {
				t.Fatalf("%q holds on a response without the field", ht.text())
			}
		}

		var lines strings.Builder
		for _, sm := range m.Status {
			lines.WriteString(statusText(sm) + ";\n")
		}
		again, err := config.LoadBytes("/nonexistent/f.conf", []byte("match m {\n"+lines.String()+"}\n"), noDNS)
		if err != nil {
			t.Fatalf("status lines %q do not read back: %v", lines.String(), err)
		}
		if got := again.Matches["m"].Status; !reflect.DeepEqual(got, m.Status) && len(m.Status) > 0 {
			t.Fatalf("status lines %q read back as %+v, were %+v", lines.String(), got, m.Status)
		}
	})
}
