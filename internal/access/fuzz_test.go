package access

import (
	"bufio"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"golang.org/x/crypto/bcrypt"
)

// refUsers reads an htpasswd file the plain way, with bufio.Scanner's
// line splitting: it returns the users by name (first line wins), the
// highest cost, and whether the file is acceptable.
func refUsers(data string) (map[string]string, int, bool) {
	users := map[string]string{}
	cost, bad := 0, false
	sc := bufio.NewScanner(strings.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, ":", 3)
		if len(fields) < 2 {
			return nil, 0, false
		}
		h := fields[1]
		if !strings.HasPrefix(h, "$2y$") && !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") {
			bad = true
			continue
		}
		c, err := bcrypt.Cost([]byte(h))
		if err != nil {
			return nil, 0, false
		}
		cost = max(cost, c)
		if _, dup := users[fields[0]]; !dup {
			users[fields[0]] = h
		}
	}
	return users, cost, !bad
}

// FuzzParseUsers checks the htpasswd reader against refUsers, that every
// error names the directive's position and the file, and that writing
// the users back out and reading them again gives the same users.
func FuzzParseUsers(f *testing.F) {
	const h = "$2y$04$usesomesillystringforeGsi9jRAzCNQkB4ejHHzsmy8i1RDpR6"
	f.Add("ops:" + h + "\n")
	f.Add("# comment\n\nops:" + h + ":a comment\r\nops:$2a$04$x\n")
	f.Add("a:" + h + "\nb:$apr1$salt$hash\n")
	f.Add("b:{SHA}abc=\nc:plain\n")
	f.Add("nocolon\n")
	f.Add(":" + h + "\n\r\n")
	f.Add("u:$2b$4$short\n")
	f.Add("u:$2y$31$" + strings.Repeat("a", 53) + "\n")
	f.Fuzz(func(t *testing.T, data string) {
		const path = "/etc/limpet/htpasswd"
		uf, cost, err := parseUsers(path, confPos, []byte(data))
		want, wantCost, ok := refUsers(data)
		if (err == nil) != ok {
			t.Fatalf("parseUsers(%q): %v; reference says ok=%t", data, err, ok)
		}
		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Pos != confPos || !strings.Contains(err.Error(), `"`+path+`"`) {
				t.Fatalf("parseUsers(%q): error %v does not name %s and %s", data, err, path, confPos)
			}
			return
		}
		got := map[string]string{}
		for u, h := range uf.users {
			got[u] = string(h)
		}
		if !maps.Equal(got, want) || cost != wantCost {
			t.Fatalf("parseUsers(%q) = %q cost %d; reference %q cost %d", data, got, cost, want, wantCost)
		}
		if uf.dummy != nil {
			t.Fatalf("parseUsers made the dummy hash")
		}

		// A user name cannot hold ':' or a line break and a hash cannot
		// hold ':' after being read, so writing users out one a line
		// gives a file that reads back the same, unless a name starts
		// with '#' (a comment) or a field ends with a '\r' that the line
		// break would absorb.
		var b strings.Builder
		for _, u := range slices.Sorted(maps.Keys(got)) {
			if strings.HasPrefix(u, "#") || strings.HasSuffix(got[u], "\r") {
				return
			}
			b.WriteString(u + ":" + got[u] + "\n")
		}
		again, _, err := parseUsers(path, confPos, []byte(b.String()))
		if err != nil {
			t.Fatalf("users %q written out do not read back: %v", got, err)
		}
		if len(again.users) != len(got) {
			t.Fatalf("users %q read back as %q", got, again.users)
		}
		for u, h := range again.users {
			if got[u] != string(h) {
				t.Fatalf("users %q read back as %q", got, again.users)
			}
		}
	})
}
