package access

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"golang.org/x/crypto/bcrypt"
)

var confPos = config.Pos{File: "/etc/limpet/limpet.conf", Line: 7}

// hash returns a bcrypt hash of pass with the given version prefix
// ("$2a$", "$2b$" or "$2y$"), at the lowest cost to keep tests fast.
func hash(t *testing.T, pass, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + strings.TrimPrefix(string(h), "$2a$")
}

// writeFile writes content into a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func rule(allow bool, prefix string) config.AccessRule {
	if prefix == "all" {
		return config.AccessRule{Allow: allow, All: true}
	}
	return config.AccessRule{Allow: allow, Prefix: netip.MustParsePrefix(prefix)}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func page(title string) string {
	return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
}

func TestAllow(t *testing.T) {
	users := writeFile(t, "htpasswd", strings.Join([]string{
		"# limpet operators",
		"alice:" + hash(t, "wonderland", "$2y$"),
		"",
		"bob:" + hash(t, "builder", "$2b$") + ":a comment",
		"carol:" + hash(t, "secret", "$2a$") + "\r", // a file edited on Windows
		"alice:" + hash(t, "second entry loses", "$2y$"),
	}, "\n")+"\n")
	auth := func(realm string) config.Access {
		return config.Access{AuthBasic: realm, AuthBasicUserFile: users, AuthPos: confPos}
	}
	rules := func(rs ...config.AccessRule) config.Access { return config.Access{Rules: rs} }

	type req struct {
		method, client, authz string
		want                  int // 200 when allowed
	}
	tests := []struct {
		name   string
		access config.Access
		le     *config.LimitExcept
		reqs   []req
	}{
		{"no rules allow everyone", config.Access{}, nil, []req{
			{"GET", "203.0.113.9", "", 200},
		}},
		{"first match wins, in order", rules(rule(false, "192.168.1.1/32"), rule(true, "192.168.1.0/24"), rule(true, "10.0.0.0/8"), rule(false, "all")), nil, []req{
			{"GET", "192.168.1.1", "", 403},
			{"GET", "192.168.1.2", "", 200},
			{"GET", "10.20.30.40", "", 200},
			{"GET", "172.16.0.1", "", 403},
			{"GET", "2001:db8::1", "", 403},
		}},
		{"order matters: allow all first", rules(rule(true, "all"), rule(false, "10.0.0.0/8")), nil, []req{
			{"GET", "10.0.0.1", "", 200},
		}},
		{"no rule matches: allowed", rules(rule(false, "10.0.0.0/8")), nil, []req{
			{"GET", "10.1.2.3", "", 403},
			{"GET", "11.1.2.3", "", 200},
		}},
		{"IPv6 CIDR", rules(rule(true, "2001:db8::/32"), rule(true, "::1/128"), rule(false, "all")), nil, []req{
			{"GET", "2001:db8:abcd::42", "", 200},
			{"GET", "::1", "", 200},
			{"GET", "2001:db9::1", "", 403},
			{"GET", "127.0.0.1", "", 403},
		}},
		{"IPv4-mapped client checked against IPv4 rules", rules(rule(true, "127.0.0.0/8"), rule(false, "all")), nil, []req{
			{"GET", "::ffff:127.0.0.1", "", 200},
			{"GET", "::ffff:10.0.0.1", "", 403},
		}},
		{"host bits in a rule are ignored", rules(rule(false, "10.1.2.3/8")), nil, []req{
			{"GET", "10.200.0.1", "", 403},
		}},
		{"unix: rules match no TCP client", rules(config.AccessRule{Unix: true}, rule(true, "127.0.0.1/32"), rule(false, "all")), nil, []req{
			{"GET", "127.0.0.1", "", 200},
			{"GET", "10.0.0.1", "", 403},
		}},
		{"deny unix: alone denies no TCP client", rules(config.AccessRule{Unix: true}), nil, []req{
			{"GET", "127.0.0.1", "", 200},
		}},
		{"auth_basic", auth("limpet admin"), nil, []req{
			{"GET", "127.0.0.1", "", 401},
			{"GET", "127.0.0.1", basic("alice", "wonderland"), 200},
			{"GET", "127.0.0.1", basic("bob", "builder"), 200},
			{"GET", "127.0.0.1", basic("carol", "secret"), 200},
			{"GET", "127.0.0.1", basic("alice", "second entry loses"), 401},
			{"GET", "127.0.0.1", basic("alice", "wrong"), 401},
			{"GET", "127.0.0.1", basic("mallory", "wonderland"), 401},
			{"GET", "127.0.0.1", "basic   " + base64.StdEncoding.EncodeToString([]byte("bob:builder")), 200},
			{"GET", "127.0.0.1", "Bearer abc", 401},
			{"GET", "127.0.0.1", "Basic !!!", 401},
			{"GET", "127.0.0.1", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), 401},
		}},
		{"auth_basic without a file checks nothing", config.Access{AuthBasic: "x"}, nil, []req{
			{"GET", "127.0.0.1", "", 200},
		}},
		{"satisfy all: rules first, then the password", func() config.Access {
			a := auth("ops")
			a.Rules = []config.AccessRule{rule(true, "10.0.0.0/8"), rule(false, "all")}
			return a
		}(), nil, []req{
			{"GET", "192.0.2.1", basic("alice", "wonderland"), 403},
			{"GET", "192.0.2.1", "", 403},
			{"GET", "10.0.0.1", "", 401},
			{"GET", "10.0.0.1", basic("alice", "wonderland"), 200},
		}},
		{"limit_except: listed methods pass, others need the block", rules(rule(true, "all")),
			&config.LimitExcept{Methods: []string{"GET"}, Access: rules(rule(true, "127.0.0.1/32"), rule(false, "all"))}, []req{
				{"GET", "198.51.100.1", "", 200},
				{"HEAD", "198.51.100.1", "", 200},
				{"POST", "198.51.100.1", "", 403},
				{"PATCH", "198.51.100.1", "", 403},
				{"DELETE", "127.0.0.1", "", 200},
				{"PROPFIND", "198.51.100.1", "", 403},
			}},
		{"limit_except with auth: reads open, writes need a password", config.Access{},
			&config.LimitExcept{Methods: []string{"GET", "OPTIONS"}, Access: auth("api")}, []req{
				{"GET", "198.51.100.1", "", 200},
				{"OPTIONS", "198.51.100.1", "", 200},
				{"POST", "198.51.100.1", "", 401},
				{"POST", "198.51.100.1", basic("bob", "builder"), 200},
			}},
		{"limit_except: listed methods still pass the location's access", rules(rule(false, "all")),
			&config.LimitExcept{Methods: []string{"GET"}, Access: rules(rule(true, "all"))}, []req{
				{"GET", "127.0.0.1", "", 403},
				{"POST", "127.0.0.1", "", 200},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.access, tt.le)
			if err != nil {
				t.Fatal(err)
			}
			for _, rq := range tt.reqs {
				r := httptest.NewRequest(rq.method, "/api/", nil)
				if rq.authz != "" {
					r.Header.Set("Authorization", rq.authz)
				}
				w := httptest.NewRecorder()
				ok := p.Allow(w, r, netip.MustParseAddr(rq.client))
				got := 200
				if !ok {
					got = w.Code
				}
				if got != rq.want {
					t.Errorf("%s from %s (%q): status %d, want %d", rq.method, rq.client, rq.authz, got, rq.want)
				}
				checkRefusal(t, w, got, tt.access.AuthBasic+func() string {
					if tt.le != nil {
						return tt.le.Access.AuthBasic
					}
					return ""
				}())
			}
		})
	}
}

// checkRefusal checks the page and headers of a refused request.
func checkRefusal(t *testing.T, w *httptest.ResponseRecorder, status int, realm string) {
	t.Helper()
	switch status {
	case 200:
		if w.Body.Len() != 0 || w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("an allowed request got a response written: %q", w.Body.String())
		}
	case 403:
		if got, want := w.Body.String(), page("403 Forbidden"); got != want {
			t.Errorf("403 page = %q, want %q", got, want)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != "" {
			t.Errorf("403 carries WWW-Authenticate %q", got)
		}
	case 401:
		if got, want := w.Body.String(), page("401 Authorization Required"); got != want {
			t.Errorf("401 page = %q, want %q", got, want)
		}
		if got, want := w.Header().Get("WWW-Authenticate"), `Basic realm="`+realm+`"`; got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		if got := w.Header().Get("Content-Type"); got != "text/html" {
			t.Errorf("Content-Type = %q", got)
		}
	}
}

func TestNilPolicy(t *testing.T) {
	p, err := New(config.Access{}, nil)
	if err != nil || p != nil {
		t.Fatalf("New(nothing) = %v, %v; want nil, nil", p, err)
	}
	p, err = New(config.Access{}, &config.LimitExcept{Methods: []string{"GET"}})
	if err != nil || p != nil {
		t.Fatalf("New(empty limit_except) = %v, %v; want nil, nil", p, err)
	}
	w := httptest.NewRecorder()
	if !p.Allow(w, httptest.NewRequest("DELETE", "/", nil), netip.Addr{}) {
		t.Fatal("a nil Policy refused a request")
	}
}

// A real client over TCP: the 401 challenge, then the same request with
// the credentials curl would send.
func TestAllowOverTCP(t *testing.T) {
	users := writeFile(t, "htpasswd", "ops:"+hash(t, "s3cret", "$2y$")+"\n")
	p, err := New(config.Access{
		Rules:     []config.AccessRule{rule(true, "127.0.0.0/8"), rule(true, "::1/128"), rule(false, "all")},
		AuthBasic: "limpet", AuthBasicUserFile: users, AuthPos: confPos,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !p.Allow(w, r, netip.MustParseAddr(host)) {
			return
		}
		_, _ = io.WriteString(w, "welcome")
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="limpet"` || string(body) != page("401 Authorization Required") {
		t.Fatalf("no credentials: %d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}

	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.SetBasicAuth("ops", "s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "welcome" {
		t.Fatalf("with credentials: %d %q", resp.StatusCode, body)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	good := hash(t, "pw", "$2y$")
	n := 0
	file := func(content string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("htpasswd%d", n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const only = `limpet supports only bcrypt ($2y$, $2a$, $2b$): regenerate it with "htpasswd -B" in /etc/limpet/limpet.conf:7`
	tests := []struct {
		name string
		path string
		le   bool   // put the file in limit_except instead
		want string // with %s for the path
	}{
		{"missing file", filepath.Join(dir, "missing"), false,
			`open() "%s" failed (2: No such file or directory) in /etc/limpet/limpet.conf:7`},
		{"missing file in limit_except", filepath.Join(dir, "missing"), true,
			`open() "%s" failed (2: No such file or directory) in /etc/limpet/limpet.conf:7`},
		{"a directory", dir, false,
			`read() "%s" failed (21: Is a directory) in /etc/limpet/limpet.conf:7`},
		{"apr1 only", file("alice:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n"), false,
			`auth_basic_user_file "%s" has no bcrypt passwords (user "alice" on line 1 has a password in MD5 ($apr1$) format); ` + only},
		{"SHA only", file("# users\nalice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"), false,
			`auth_basic_user_file "%s" has no bcrypt passwords (user "alice" on line 2 has a password in SHA-1 ({SHA}) format); ` + only},
		{"plain text only", file("alice:wonderland\nbob:builder\n"), false,
			`auth_basic_user_file "%s" has no bcrypt passwords (user "alice" on line 1 has a password in crypt or plain text format); ` + only},
		{"crypt only", file("alice:rqXexS6ZhobKA\n"), false,
			`auth_basic_user_file "%s" has no bcrypt passwords (user "alice" on line 1 has a password in crypt or plain text format); ` + only},
		{"SHA-512-crypt beside bcrypt", file("alice:" + good + "\nbob:$6$salt$abc\n"), false,
			`auth_basic_user_file "%s": user "bob" on line 2 has a password in SHA-512-crypt ($6$) format; ` + only},
		{"plain text beside bcrypt", file("alice:" + good + "\n\ncarol:hunter2\n"), false,
			`auth_basic_user_file "%s": user "carol" on line 3 has a password in crypt or plain text format; ` + only},
		{"empty password beside bcrypt", file("alice:" + good + "\ndave:\n"), false,
			`auth_basic_user_file "%s": user "dave" on line 2 has a password in crypt or plain text format; ` + only},
		{"malformed bcrypt", file("alice:$2y$10$tooshort\n"), false,
			`auth_basic_user_file "%s": user "alice" on line 1 has a malformed bcrypt hash in /etc/limpet/limpet.conf:7`},
		{"no colon", file("alice:" + good + "\njustaname\n"), false,
			`auth_basic_user_file "%s": line 2 has no ":" after the user name in /etc/limpet/limpet.conf:7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := config.Access{AuthBasic: "r", AuthBasicUserFile: tt.path, AuthPos: confPos}
			var err error
			if tt.le {
				_, err = New(config.Access{}, &config.LimitExcept{Methods: []string{"GET"}, Access: a})
			} else {
				_, err = New(a, nil)
			}
			want := strings.ReplaceAll(tt.want, "%s", tt.path)
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v\nwant    %s", err, want)
			}
			if _, ok := err.(*config.Error); !ok {
				t.Errorf("error is a %T, want *config.Error", err)
			}
		})
	}
}

// An empty file is accepted, as nginx accepts it: nobody gets in.
func TestEmptyUserFile(t *testing.T) {
	p, err := New(config.Access{AuthBasic: "r", AuthBasicUserFile: writeFile(t, "empty", "# nobody yet\n"), AuthPos: confPos}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", basic("alice", ""))
	if w := httptest.NewRecorder(); p.Allow(w, r, netip.MustParseAddr("127.0.0.1")) || w.Code != 401 {
		t.Fatalf("empty file let a user in (status %d)", w.Code)
	}
}
