package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestStateErrors: what NGINX Plus refuses about `state`, and errors in
// the state file named by the state file's line.
func TestStateErrors(t *testing.T) {
	tests := []struct {
		name  string
		conf  string // limpet.conf; DIR is the temporary directory
		state string // servers.state, "" for none
		want  string
	}{
		{
			name: "server after state",
			conf: "upstream u {\n zone u 64k;\n state servers.state;\n server 10.0.0.1;\n}",
			want: `"server" directive is incompatible with "state" in DIR/limpet.conf:4`,
		},
		{
			name: "state after server",
			conf: "upstream u {\n zone u 64k;\n server 10.0.0.1;\n state servers.state;\n}",
			want: `"state" directive is incompatible with "server" in DIR/limpet.conf:4`,
		},
		{
			name: "duplicate state",
			conf: "upstream u {\n zone u 64k;\n state a.state;\n state b.state;\n}",
			want: `"state" directive is duplicate in DIR/limpet.conf:4`,
		},
		{
			name: "one file for two upstreams",
			conf: "upstream u {\n zone u 64k;\n state servers.state;\n}\nupstream v {\n zone v 64k;\n state ./servers.state;\n}",
			want: `"state" file "DIR/servers.state" is already kept by upstream "u" in DIR/limpet.conf:7`,
		},
		{
			name: "state without zone",
			conf: "upstream u {\n state servers.state;\n}",
			want: `"state" requires upstream "u" to be in shared memory in DIR/limpet.conf:2`,
		},
		{
			name: "state outside upstream",
			conf: "server {\n state servers.state;\n}",
			want: `"state" directive is not allowed here in DIR/limpet.conf:2`,
		},
		{
			name: "state with two files",
			conf: "upstream u {\n zone u 64k;\n state a.state b.state;\n}",
			want: `invalid number of arguments in "state" directive in DIR/limpet.conf:3`,
		},
		{
			name:  "bad parameter in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "server 10.0.0.1:80;\nserver 10.0.0.2:80 weight=0;\n",
			want:  `invalid parameter "weight=0" in DIR/servers.state:2`,
		},
		{
			name:  "host not found in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "\n\nserver app-03.internal:80;\n",
			want:  `host not found in upstream "app-03.internal:80" in DIR/servers.state:3`,
		},
		{
			name:  "other directive in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "server 10.0.0.1:80;\nzone v 64k;\n",
			want:  `"zone" directive is not allowed here in DIR/servers.state:2`,
		},
		{
			name:  "unknown directive in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "servr 10.0.0.1:80;\n",
			want:  `unknown directive "servr" in DIR/servers.state:1`,
		},
		{
			name:  "block in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "server 10.0.0.1:80 {\n}\n",
			want:  `directive "server" is not terminated by ";" in DIR/servers.state:1`,
		},
		{
			name:  "syntax error in the state file",
			conf:  "upstream u {\n zone u 64k;\n state servers.state;\n}",
			state: "server 10.0.0.1:80;\nserver 10.0.0.2:80",
			want:  `unexpected end of file, expecting ";" or "}" in DIR/servers.state:2`,
		},
		{
			name:  "backup in the state file with ip_hash",
			conf:  "upstream u {\n zone u 64k;\n ip_hash;\n state servers.state;\n}",
			state: "server 10.0.0.1:80;\nserver 10.0.0.2:80 backup;\n",
			want:  `invalid parameter "backup" in DIR/servers.state:2`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"limpet.conf": tt.conf}
			if tt.state != "" {
				files["servers.state"] = tt.state
			}
			dir := writeFiles(t, files)
			_, err := Load(filepath.Join(dir, "limpet.conf"), testOptions)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
		})
	}
}

// TestState: the state file's lines are the upstream's servers, with
// their parameters; a missing or empty file is an empty group.
func TestState(t *testing.T) {
	base := UpstreamServer{Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}
	with := func(addr string, f func(*UpstreamServer)) UpstreamServer {
		s := base
		s.Name, s.Addr = addr, addr
		if f != nil {
			f(&s)
		}
		return s
	}
	tests := []struct {
		name      string
		statePath string // as written in the directive; DIR is the temporary directory
		state     *string
		want      []UpstreamServer
	}{
		{name: "missing file", statePath: "servers.state"},
		{name: "empty file", statePath: "servers.state", state: ptr("")},
		{name: "comments only", statePath: "servers.state", state: ptr("# kept by limpet\n")},
		{
			name:      "servers and parameters",
			statePath: "servers.state",
			state: ptr("server 10.0.0.1:8080;\n" +
				"server 10.0.0.2:8080 weight=3 max_fails=0 fail_timeout=30s slow_start=10s backup down;\n" +
				"server 10.0.0.3:8080 route=a drain;\n"),
			want: []UpstreamServer{
				with("10.0.0.1:8080", nil),
				with("10.0.0.2:8080", func(s *UpstreamServer) {
					s.Weight, s.MaxFails, s.FailTimeout, s.SlowStart, s.Backup, s.Down = 3, 0, 30*time.Second, 10*time.Second, true, true
				}),
				with("10.0.0.3:8080", func(s *UpstreamServer) { s.Route, s.Drain = "a", true }),
			},
		},
		{
			name:      "absolute path",
			statePath: "DIR/var/servers.state",
			state:     ptr("server 10.0.0.1:80;\n"),
			want:      []UpstreamServer{with("10.0.0.1:80", nil)},
		},
		{
			name:      "relative to the main file's directory",
			statePath: "var/servers.state",
			state:     ptr("server 10.0.0.1:80;\n"),
			want:      []UpstreamServer{with("10.0.0.1:80", nil)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			if tt.state != nil {
				files[strings.TrimPrefix(tt.statePath, "DIR/")] = *tt.state
			}
			dir := writeFiles(t, files)
			statePath := strings.ReplaceAll(tt.statePath, "DIR", dir)
			abs := statePath
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(dir, abs)
			}
			conf := "upstream u {\n zone u 64k;\n state " + statePath + ";\n sticky cookie srv;\n}"
			if err := os.WriteFile(filepath.Join(dir, "limpet.conf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(filepath.Join(dir, "limpet.conf"), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			u := cfg.Upstreams[0]
			if u.State != abs {
				t.Errorf("State = %q, want %q", u.State, abs)
			}
			got := make([]UpstreamServer, 0, len(u.Servers))
			for i, s := range u.Servers {
				if s.Pos.File != abs || s.Pos.Line != i+1 {
					t.Errorf("server %d at %s, want %s:%d", i, s.Pos, abs, i+1)
				}
				one := *s
				one.Pos = Pos{}
				got = append(got, one)
			}
			if len(got) == 0 {
				got = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("servers\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestStateRoundTrip: what FormatState writes, Load reads back as the
// same servers, in the format NGINX Plus writes (defaults left out).
func TestStateRoundTrip(t *testing.T) {
	servers := []*UpstreamServer{
		{Addr: "10.0.0.1:8080", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Addr: "10.0.0.2:8080", Weight: 5, MaxFails: 3, FailTimeout: 90 * time.Second, SlowStart: 30 * time.Second, Backup: true, Down: true},
		{Addr: "[::1]:8081", Weight: 1, MaxFails: 0, FailTimeout: 10 * time.Second, Route: "blue", Drain: true},
		{Addr: "10.0.0.3:80", Weight: 2, MaxFails: 1, FailTimeout: time.Second, MaxConns: 7, Route: `a b;"c\d{e}`},
		{Addr: "unix:/run/app.sock", Weight: 3, MaxFails: 1, FailTimeout: 10 * time.Second},
		{Addr: "unix:/run/my app;1.sock", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, Backup: true},
	}
	text := string(FormatState(servers))
	want := "server 10.0.0.1:8080;\n" +
		"server 10.0.0.2:8080 weight=5 max_fails=3 fail_timeout=90s slow_start=30s backup down;\n" +
		"server [::1]:8081 max_fails=0 route=blue drain;\n" +
		`server 10.0.0.3:80 weight=2 max_conns=7 fail_timeout=1s "route=a b;\"c\\d{e}";` + "\n" +
		"server unix:/run/app.sock weight=3;\n" +
		`server "unix:/run/my app;1.sock" backup;` + "\n"
	if text != want {
		t.Errorf("FormatState:\n%s\nwant\n%s", text, want)
	}
	dir := writeFiles(t, map[string]string{
		"limpet.conf":   "upstream u {\n zone u 64k;\n state servers.state;\n}",
		"servers.state": text,
	})
	cfg, err := Load(filepath.Join(dir, "limpet.conf"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Upstreams[0].Servers
	if len(got) != len(servers) {
		t.Fatalf("read back %d servers, want %d", len(got), len(servers))
	}
	for i, s := range got {
		one, w := *s, *servers[i]
		one.Pos, one.Name = Pos{}, ""
		if !reflect.DeepEqual(one, w) {
			t.Errorf("server %d read back as\n%+v\nwant\n%+v", i, one, w)
		}
		if s.Name != s.Addr {
			t.Errorf("server %d: Name %q, want its address %q", i, s.Name, s.Addr)
		}
	}
	if again := string(FormatState(got)); again != text {
		t.Errorf("written again:\n%s\nwant\n%s", again, text)
	}
}

func ptr[T any](v T) *T { return &v }
