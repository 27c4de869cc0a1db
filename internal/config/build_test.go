package config

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// designNotes is the nginx configuration of the design notes, as written
// there; only the host names are resolved by the stub below.
const designNotes = `# Nginx config snippet
upstream backend {
    server app-01.internal:80;
    server app-02.internal:80;

    # This is the key for sticky sessions
    sticky cookie SERVERID expires=1h path=/;
}

server {
    listen 80;
    server_name loadbalancer.example.com;

    location / {
        proxy_pass http://backend;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}
`

// testHosts is the stub DNS of every test: no test touches the network.
var testHosts = map[string][]string{
	"app-01.internal": {"127.0.0.1"},
	"app-02.internal": {"127.0.0.2"},
	"multi.internal":  {"127.0.0.3", "127.0.0.4"},
	"v6.internal":     {"::1"},
	"localhost":       {"127.0.0.1"},
}

func stubLookup(ctx context.Context, host string) ([]string, error) {
	if addrs, ok := testHosts[host]; ok {
		return addrs, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

var testOptions = Options{LookupHost: stubLookup}

// load writes src as limpet.conf in a new directory and loads it.
func load(t *testing.T, src string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, testOptions)
	return cfg, path, err
}

func mustLoad(t *testing.T, src string) *Config {
	t.Helper()
	cfg, _, err := load(t, src)
	if err != nil {
		t.Fatalf("load:\n%s\nerror: %v", src, err)
	}
	return cfg
}

// defaultProxy is the effective settings when nothing is set.
func defaultProxy() ProxySettings {
	return ProxySettings{
		SetHeaders:        []Header{{Name: "Host", Value: "$proxy_host"}},
		ConnectTimeout:    60 * time.Second,
		ReadTimeout:       60 * time.Second,
		SendTimeout:       60 * time.Second,
		NextUpstream:      NextError | NextTimeout,
		ClientMaxBodySize: 1 << 20,
		AccessLogs:        []AccessLog{{Path: "stdout"}},
		KeepaliveTimeout:  75 * time.Second,
		Client:            defaultClient,
		Redirects:         Redirects{Absolute: true, Port: true},
		SSL:               defaultUpstreamSSL(),
	}
}

// defaultResponse is the effective response-header settings when nothing
// is set.
func defaultResponse() ResponseHeaders {
	return ResponseHeaders{Hide: DefaultHiddenHeaders, Expires: Expires{Off: true}}
}

// firstLog is a level's first access_log line, {Off: true} when off.
func firstLog(ps ProxySettings) AccessLog {
	if len(ps.AccessLogs) == 0 {
		return AccessLog{Off: true}
	}
	return ps.AccessLogs[0]
}

// defaultClient is nginx's client-side defaults.
var defaultClient = ClientSettings{HeaderTimeout: time.Minute, BodyTimeout: time.Minute, SendTimeout: time.Minute,
	KeepaliveRequests: 1000, KeepaliveTime: time.Hour, RequestBuffering: true, BodyBufferSize: 16 << 10}

// defaultClientHeaders are nginx's defaults for reading a client's header.
var defaultClientHeaders = ClientHeaders{
	BufferSize: 1024, LargeBuffers: 4, LargeBufferSize: 8192, MaxHeaders: 1000, IgnoreInvalidHeaders: true,
}

// TestClientHeaders: the header-reading settings have nginx's defaults,
// and a server inherits from http what it does not set.
func TestClientHeaders(t *testing.T) {
	cfg, _, err := load(t, `
client_header_buffer_size 2k;
large_client_header_buffers 8 16k;
underscores_in_headers on;
server { listen 1; }
server {
    listen 2;
    large_client_header_buffers 2 1k;
    max_headers 50;
    underscores_in_headers off;
    ignore_invalid_headers off;
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []ClientHeaders{
		{BufferSize: 2048, LargeBuffers: 8, LargeBufferSize: 16384, MaxHeaders: 1000, UnderscoresInHeaders: true, IgnoreInvalidHeaders: true},
		{BufferSize: 2048, LargeBuffers: 2, LargeBufferSize: 1024, MaxHeaders: 50},
	}
	for i, w := range want {
		if got := cfg.Servers[i].ClientHeaders; got != w {
			t.Errorf("server %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestDesignNotes(t *testing.T) {
	cfg, path, err := load(t, designNotes)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	backend := &Upstream{
		Name: "backend",
		Pos:  at(2),
		Servers: []*UpstreamServer{
			{Pos: at(3), Name: "app-01.internal:80", Addr: "127.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
			{Pos: at(4), Name: "app-02.internal:80", Addr: "127.0.0.2:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
		},
		Method: Balance{Kind: RoundRobin},
		Sticky: &Sticky{Pos: at(7), Cookie: StickyCookie{Name: "SERVERID", Expires: time.Hour, Path: "/"}},
	}
	locProxy := defaultProxy()
	locProxy.Static = defaultStatic(filepath.Dir(path))
	locProxy.Client.BodyTempPath = filepath.Join(filepath.Dir(path), "client_body_temp")
	srvProxy := defaultProxy()
	srvProxy.Client.BodyTempPath = locProxy.Client.BodyTempPath
	srvProxy.Static = locProxy.Static
	locProxy.SetHeaders = []Header{
		{Pos: at(16), Name: "Host", Value: "$host"},
		{Pos: at(17), Name: "X-Real-IP", Value: "$remote_addr"},
		{Pos: at(18), Name: "X-Forwarded-For", Value: "$proxy_add_x_forwarded_for"},
		{Pos: at(19), Name: "X-Forwarded-Proto", Value: "$scheme"},
	}
	locProxy.Response = defaultResponse()
	locProxy.Response.Redirects = []Rewrite{{Pos: at(15), Pattern: "http://backend/", Replacement: "/"}}
	locProxy.RealIP = RealIP{Header: "X-Real-Ip"}
	srvProxy.Response = defaultResponse()
	srvProxy.RealIP = RealIP{Header: "X-Real-Ip"}
	want := &Config{
		File:      path,
		Upstreams: []*Upstream{backend},
		Servers: []*Server{{
			Pos:     at(10),
			Listens: []Listen{{Pos: at(11), Addr: "0.0.0.0:80"}},
			Names:   []string{"loadbalancer.example.com"},
			Locations: []*Location{{
				Pos:       at(14),
				Path:      "/",
				ProxyPass: &ProxyPass{Pos: at(15), URL: "http://backend", Scheme: "http", Upstream: backend},
				Proxy:     locProxy,
				Limits:    defaultLimits(),
			}},
			Proxy:         srvProxy,
			ClientHeaders: defaultClientHeaders,
			HTTP2:         HTTP2{MaxConcurrentStreams: 128, RecvBufferSize: 256 << 10, BodyPrereadSize: 64 << 10},
			Limits:        defaultLimits(),
		}},
		ErrorLog:          "stderr",
		PID:               filepath.Join(filepath.Dir(path), DefaultPID),
		WorkerConnections: DefaultWorkerConnections,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %s\nwant %s", dumpConfig(cfg), dumpConfig(want))
	}
	if cfg.Servers[0].Locations[0].ProxyPass.Upstream != cfg.Upstreams[0] {
		t.Error("proxy_pass does not point at the upstream of Config.Upstreams")
	}
}

// dumpConfig renders a Config for failure messages.
func dumpConfig(c *Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "file=%s errorlog=%s ignored=%v\n", c.File, c.ErrorLog, c.Ignored)
	for _, u := range c.Upstreams {
		fmt.Fprintf(&b, "upstream %+v\n", *u)
		for _, s := range u.Servers {
			fmt.Fprintf(&b, "  server %+v\n", *s)
		}
		if u.Sticky != nil {
			fmt.Fprintf(&b, "  sticky %+v\n", *u.Sticky)
		}
	}
	for _, s := range c.Servers {
		fmt.Fprintf(&b, "server %+v\n", *s)
		var locs func([]*Location, string)
		locs = func(ls []*Location, indent string) {
			for _, l := range ls {
				fmt.Fprintf(&b, "%slocation %+v\n", indent, *l)
				if l.ProxyPass != nil {
					fmt.Fprintf(&b, "%s  proxy_pass %+v\n", indent, *l.ProxyPass)
				}
				locs(l.Locations, indent+"  ")
			}
		}
		locs(s.Locations, "  ")
	}
	return b.String()
}

// noFile drops the file name of every position, so tables can state lines only.
func noFile(p Pos) Pos { return Pos{Line: p.Line} }

func TestUpstreamServers(t *testing.T) {
	tests := []struct {
		name string
		body string // inside upstream u { }, from line 2
		want []UpstreamServer
	}{
		{
			name: "defaults",
			body: "server 10.0.0.1;",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "10.0.0.1", Addr: "10.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
		{
			name: "every parameter",
			body: "server app-01.internal:8080 weight=5 max_fails=3 fail_timeout=1h30m max_conns=100 route=a1;",
			want: []UpstreamServer{{Pos: Pos{Line: 2}, Name: "app-01.internal:8080", Addr: "127.0.0.1:8080", Weight: 5, MaxFails: 3, FailTimeout: 90 * time.Minute, MaxConns: 100, Route: "a1"}},
		},
		{
			name: "backup, down, zero max_fails and fail_timeout",
			body: "server 10.0.0.1;\nserver 10.0.0.2:81 backup max_fails=0;\nserver 10.0.0.3 down fail_timeout=0;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "10.0.0.1", Addr: "10.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
				{Pos: Pos{Line: 3}, Name: "10.0.0.2:81", Addr: "10.0.0.2:81", Weight: 1, MaxFails: 0, FailTimeout: 10 * time.Second, Backup: true},
				{Pos: Pos{Line: 4}, Name: "10.0.0.3", Addr: "10.0.0.3:80", Weight: 1, MaxFails: 1, Down: true},
			},
		},
		{
			name: "NGINX Plus slow_start and drain",
			body: "server 10.0.0.1 slow_start=30s drain;\nserver 10.0.0.2 slow_start=1m30 drain down;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "10.0.0.1", Addr: "10.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, SlowStart: 30 * time.Second, Drain: true},
				{Pos: Pos{Line: 3}, Name: "10.0.0.2", Addr: "10.0.0.2:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, SlowStart: 90 * time.Second, Drain: true, Down: true},
			},
		},
		{
			name: "a name with several addresses gives one server each",
			body: "server multi.internal:9000 weight=2;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "multi.internal:9000", Addr: "127.0.0.3:9000", Weight: 2, MaxFails: 1, FailTimeout: 10 * time.Second},
				{Pos: Pos{Line: 2}, Name: "multi.internal:9000", Addr: "127.0.0.4:9000", Weight: 2, MaxFails: 1, FailTimeout: 10 * time.Second},
			},
		},
		{
			name: "IPv6",
			body: "server [::1]:8080;\nserver [2001:DB8::1];\nserver v6.internal;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "[::1]:8080", Addr: "[::1]:8080", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
				{Pos: Pos{Line: 3}, Name: "[2001:DB8::1]", Addr: "[2001:db8::1]:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
				{Pos: Pos{Line: 4}, Name: "v6.internal", Addr: "[::1]:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
			},
		},
		{
			name: "host without port and leading zeros in the port",
			body: "server app-02.internal;\nserver localhost:0080;",
			want: []UpstreamServer{
				{Pos: Pos{Line: 2}, Name: "app-02.internal", Addr: "127.0.0.2:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
				{Pos: Pos{Line: 3}, Name: "localhost:0080", Addr: "127.0.0.1:80", Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "upstream u {\n"+tt.body+"\n}\n")
			var got []UpstreamServer
			for _, s := range cfg.Upstreams[0].Servers {
				one := *s
				one.Pos = noFile(one.Pos)
				got = append(got, one)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestUpstreamOptions(t *testing.T) {
	tests := []struct {
		name string
		body string // inside upstream u { }, from line 2, after "server 10.0.0.1;"
		want Upstream
	}{
		{"round robin by default", "", Upstream{Method: Balance{Kind: RoundRobin}}},
		{"least_conn", "least_conn;", Upstream{Method: Balance{Kind: LeastConn, Pos: Pos{Line: 3}}}},
		{"random", "random;", Upstream{Method: Balance{Kind: Random, Pos: Pos{Line: 3}}}},
		{"random two", "random two;", Upstream{Method: Balance{Kind: Random, Two: true, Pos: Pos{Line: 3}}}},
		{"random two least_conn", "random two least_conn;", Upstream{Method: Balance{Kind: Random, Two: true, Pos: Pos{Line: 3}}}},
		{"ip_hash", "ip_hash;", Upstream{Method: Balance{Kind: IPHash, Pos: Pos{Line: 3}}}},
		{"hash", "hash $request_uri;", Upstream{Method: Balance{Kind: Hash, HashKey: "$request_uri", Pos: Pos{Line: 3}}}},
		{"hash consistent", "hash $remote_addr$http_x consistent;", Upstream{Method: Balance{Kind: Hash, HashKey: "$remote_addr$http_x", Consistent: true, Pos: Pos{Line: 3}}}},
		{"keepalive and zone", "keepalive 16;\nzone backend 64k;", Upstream{Method: Balance{Kind: RoundRobin}, Keepalive: 16, Zone: "backend"}},
		{"zone without size", "zone backend;", Upstream{Method: Balance{Kind: RoundRobin}, Zone: "backend"}},
		{"queue with the default timeout", "zone backend;\nqueue 10;", Upstream{Method: Balance{Kind: RoundRobin}, Zone: "backend", Queue: &Queue{Pos: Pos{Line: 4}, Size: 10, Timeout: time.Minute}}},
		{"queue after the method, zone after it", "least_conn;\nqueue 1 timeout=250ms;\nzone z;", Upstream{Method: Balance{Kind: LeastConn, Pos: Pos{Line: 3}}, Zone: "z", Queue: &Queue{Pos: Pos{Line: 4}, Size: 1, Timeout: 250 * time.Millisecond}}},
		{"queue timeout in minutes", "zone z;\nqueue 5 timeout=1m30s;", Upstream{Method: Balance{Kind: RoundRobin}, Zone: "z", Queue: &Queue{Pos: Pos{Line: 4}, Size: 5, Timeout: 90 * time.Second}}},
		{"nginx tuning ignored", "keepalive_timeout 60s;\nkeepalive_requests 1000;", Upstream{Method: Balance{Kind: RoundRobin}}},
		{
			"sticky with defaults", "sticky cookie srv_id;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "srv_id"}}},
		},
		{
			"sticky with every parameter",
			"sticky cookie srv_id expires=1d domain=.example.com path=/app httponly secure samesite=Lax;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{
				Name: "srv_id", Expires: 24 * time.Hour, Domain: ".example.com", Path: "/app", HTTPOnly: true, Secure: true, SameSite: "lax",
			}}},
		},
		{
			"sticky expires=max", "sticky cookie s expires=max samesite=none;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "s", ExpiresMax: true, SameSite: "none"}}},
		},
		{
			"sticky expires in months", "sticky cookie s expires=1M samesite=strict;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "s", Expires: 30 * 24 * time.Hour, SameSite: "strict"}}},
		},
		{
			"sticky enforce_expiry", "sticky cookie s expires=1h enforce_expiry;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "s", Expires: time.Hour, EnforceExpiry: true}}},
		},
		{
			"sticky assign_only", "sticky cookie s expires=1h assign_only;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "s", Expires: time.Hour, AssignOnly: true}}},
		},
		{
			// Complex values in nginx: kept as written, case included,
			// for expansion per response.
			"sticky domain and samesite with variables", "sticky cookie s domain=.$host samesite=$arg_SameSite;",
			Upstream{Method: Balance{Kind: RoundRobin}, Sticky: &Sticky{Pos: Pos{Line: 3}, Cookie: StickyCookie{Name: "s", Domain: ".$host", SameSite: "$arg_SameSite"}}},
		},
		{"backup with least_conn", "least_conn;\nserver 10.0.0.9 backup;", Upstream{Method: Balance{Kind: LeastConn, Pos: Pos{Line: 3}}}},
		{"slow_start with least_conn", "least_conn;\nserver 10.0.0.9 slow_start=10s;", Upstream{Method: Balance{Kind: LeastConn, Pos: Pos{Line: 3}}}},
		{"drain with hash", "hash $uri consistent;\nserver 10.0.0.9 drain;", Upstream{Method: Balance{Kind: Hash, HashKey: "$uri", Consistent: true, Pos: Pos{Line: 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "upstream u {\nserver 10.0.0.1;\n"+tt.body+"\n}\n")
			got := *cfg.Upstreams[0]
			got.Servers, got.Name, got.Pos = nil, "", Pos{}
			got.Method.Pos = noFile(got.Method.Pos)
			if got.Sticky != nil {
				got.Sticky.Pos = noFile(got.Sticky.Pos)
			}
			if got.Queue != nil {
				got.Queue.Pos = noFile(got.Queue.Pos)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v %+v %+v\nwant %+v %+v %+v", got, got.Sticky, got.Queue, tt.want, tt.want.Sticky, tt.want.Queue)
			}
		})
	}
}

func TestServers(t *testing.T) {
	tests := []struct {
		name      string
		body      string // inside server { }, from line 2
		wantAddrs []Listen
		wantNames []string
	}{
		{"defaults", "", []Listen{{Pos: Pos{Line: 1}, Addr: "0.0.0.0:80"}}, []string{""}},
		{"bare port", "listen 8080;", []Listen{{Pos: Pos{Line: 2}, Addr: "0.0.0.0:8080"}}, []string{""}},
		{"address and port", "listen 127.0.0.1:8080 default_server;", []Listen{{Pos: Pos{Line: 2}, Addr: "127.0.0.1:8080", DefaultServer: true}}, []string{""}},
		{"port 0 asks the system for a port", "listen 127.0.0.1:0;", []Listen{{Pos: Pos{Line: 2}, Addr: "127.0.0.1:0"}}, []string{""}},
		{"address only", "listen 127.0.0.1;", []Listen{{Pos: Pos{Line: 2}, Addr: "127.0.0.1:80"}}, []string{""}},
		{"host name kept as written", "listen localhost:8080;", []Listen{{Pos: Pos{Line: 2}, Addr: "localhost:8080"}}, []string{""}},
		{"IPv6", "listen [::1]:8080;\nlisten [::];", []Listen{{Pos: Pos{Line: 2}, Addr: "[::1]:8080"}, {Pos: Pos{Line: 3}, Addr: "[::]:80"}}, []string{""}},
		{"IPv4 and IPv6 wildcards, each with its default server", "listen 80 default_server;\nlisten [::]:80 default_server;", []Listen{{Pos: Pos{Line: 2}, Addr: "0.0.0.0:80", DefaultServer: true}, {Pos: Pos{Line: 3}, Addr: "[::]:80", DefaultServer: true}}, []string{""}},
		{"ipv6only", "listen [::]:8090 ipv6only=off;\nlisten [0:0::1]:8091 ipv6only=on;\nlisten 0.0.0.0:8092;", []Listen{{Pos: Pos{Line: 2}, Addr: "[::]:8090", IPv6Only: IPv6OnlyOff}, {Pos: Pos{Line: 3}, Addr: "[::1]:8091", IPv6Only: IPv6OnlyOn}, {Pos: Pos{Line: 4}, Addr: "0.0.0.0:8092"}}, []string{""}},
		{"wildcard", "listen *:8081 default;", []Listen{{Pos: Pos{Line: 2}, Addr: "0.0.0.0:8081", DefaultServer: true}}, []string{""}},
		{
			"socket options", "listen 8082 reuseport backlog=511 so_keepalive=on;\nlisten 8083 so_keepalive=30m::10;\nlisten 8084 so_keepalive=off;\nlisten 8085 so_keepalive=:5;",
			[]Listen{
				{Pos: Pos{Line: 2}, Addr: "0.0.0.0:8082", ReusePort: true, Backlog: 511, SoKeepalive: &SoKeepalive{Enable: true}},
				{Pos: Pos{Line: 3}, Addr: "0.0.0.0:8083", SoKeepalive: &SoKeepalive{Enable: true, Idle: 30 * time.Minute, Count: 10}},
				{Pos: Pos{Line: 4}, Addr: "0.0.0.0:8084", SoKeepalive: &SoKeepalive{}},
				{Pos: Pos{Line: 5}, Addr: "0.0.0.0:8085", SoKeepalive: &SoKeepalive{Enable: true, Interval: 5 * time.Second}},
			},
			[]string{""},
		},
		{
			// nginx takes a 0 part as "the system's value", like an empty one.
			"so_keepalive with zero parts", "listen 8086 so_keepalive=0:1m:0;",
			[]Listen{{Pos: Pos{Line: 2}, Addr: "0.0.0.0:8086", SoKeepalive: &SoKeepalive{Enable: true, Interval: time.Minute}}},
			[]string{""},
		},
		{"server names add up", "server_name a.example.com *.example.com;\nserver_name _ \"\";", []Listen{{Pos: Pos{Line: 1}, Addr: "0.0.0.0:80"}}, []string{"a.example.com", "*.example.com", "_", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "server {\n"+tt.body+"\n}\n")
			srv := cfg.Servers[0]
			var got []Listen
			for _, l := range srv.Listens {
				l.Pos = noFile(l.Pos)
				got = append(got, l)
			}
			if !reflect.DeepEqual(got, tt.wantAddrs) {
				t.Errorf("listens %+v, want %+v", got, tt.wantAddrs)
			}
			if !reflect.DeepEqual(srv.Names, tt.wantNames) {
				t.Errorf("names %q, want %q", srv.Names, tt.wantNames)
			}
		})
	}
}

func TestDefaultServersOnDifferentAddresses(t *testing.T) {
	cfg := mustLoad(t, "server { listen 80 default_server; }\nserver { listen 8080 default_server; listen 80; }\nhttp { server { listen 127.0.0.1:80 default_server; } }")
	if len(cfg.Servers) != 3 {
		t.Fatalf("%d servers, want 3", len(cfg.Servers))
	}
}

func TestLocations(t *testing.T) {
	cfg := mustLoad(t, `server {
    location / { }
    location = /exact { }
    location ^~ /static/ { }
    location ~ \.php$ { }
    location ~* \.(gif|jpg)$ { }
    location =/glued { }
    location ~*\.PNG$ { }
    location /api/ {
        location /api/v1/ {
            location ~ /api/v1/x$ { }
        }
        location ~ \.json$ { }
    }
    location = /x { }
    location /x { }
}`)
	type loc struct {
		mod, path string
		line      int
		children  int
	}
	want := []loc{
		{"", "/", 2, 0}, {"=", "/exact", 3, 0}, {"^~", "/static/", 4, 0}, {"~", `\.php$`, 5, 0},
		{"~*", `\.(gif|jpg)$`, 6, 0}, {"=", "/glued", 7, 0}, {"~*", `\.PNG$`, 8, 0}, {"", "/api/", 9, 2},
		{"=", "/x", 15, 0}, {"", "/x", 16, 0},
	}
	locs := cfg.Servers[0].Locations
	if len(locs) != len(want) {
		t.Fatalf("%d locations, want %d", len(locs), len(want))
	}
	for i, w := range want {
		l := locs[i]
		if l.Modifier != w.mod || l.Path != w.path || l.Pos.Line != w.line || len(l.Locations) != w.children {
			t.Errorf("location %d = %q %q line %d with %d nested, want %+v", i, l.Modifier, l.Path, l.Pos.Line, len(l.Locations), w)
		}
		if isRegex := w.mod == "~" || w.mod == "~*"; isRegex != (l.Regexp != nil) {
			t.Errorf("location %q: Regexp %v", l.Path, l.Regexp)
		}
	}
	regexTests := []struct {
		loc   *Location
		uri   string
		match bool
	}{
		{locs[3], "/a/index.php", true},
		{locs[3], "/a/index.PHP", false},
		{locs[4], "/img/A.GIF", true},
		{locs[6], "/x.png", true},
		{locs[7].Locations[0].Locations[0], "/api/v1/x", true},
	}
	for _, rt := range regexTests {
		if got := rt.loc.Regexp.MatchString(rt.uri); got != rt.match {
			t.Errorf("location %s %q matching %q = %t", rt.loc.Modifier, rt.loc.Path, rt.uri, got)
		}
	}
}

func TestProxyPass(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		upstream string // name of the upstream expected, or ""
		host     string
		addr     string
		uri      string
		hasURI   bool
	}{
		{"upstream", "http://backend", "backend", "", "", "", false},
		{"upstream defined later", "http://later", "later", "", "", "", false},
		{"upstream with root URI", "http://backend/", "backend", "", "", "/", true},
		{"upstream with URI", "http://backend/app/", "backend", "", "", "/app/", true},
		{"upstream with query", "http://backend?x=1", "backend", "", "", "?x=1", true},
		{"upstream name without case", "HTTP://BackEnd", "backend", "", "", "", false},
		{"address", "http://127.0.0.1:8080", "", "127.0.0.1:8080", "127.0.0.1:8080", "", false},
		{"host name, default port", "http://app-01.internal", "", "app-01.internal", "127.0.0.1:80", "", false},
		{"host name, first address", "http://multi.internal:81/x", "", "multi.internal:81", "127.0.0.3:81", "/x", true},
		{"IPv6", "http://[::1]:9000/", "", "[::1]:9000", "[::1]:9000", "/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, fmt.Sprintf(`upstream backend { server 10.0.0.1; }
server {
    location / {
        proxy_pass %s;
    }
}
upstream later { server 10.0.0.2; }`, tt.url))
			pp := cfg.Servers[0].Locations[0].ProxyPass
			if pp == nil {
				t.Fatal("no ProxyPass")
			}
			name := ""
			if pp.Upstream != nil {
				name = pp.Upstream.Name
			}
			if pp.URL != tt.url || pp.Scheme != "http" || name != tt.upstream || pp.Host != tt.host || pp.Addr != tt.addr ||
				pp.URI != tt.uri || pp.HasURI != tt.hasURI || pp.Pos.Line != 4 {
				t.Errorf("got %+v (upstream %q), want upstream %q host %q addr %q uri %q hasURI %t",
					*pp, name, tt.upstream, tt.host, tt.addr, tt.uri, tt.hasURI)
			}
		})
	}
}

func TestProxyPassInRegexLocationWithoutURI(t *testing.T) {
	cfg := mustLoad(t, "server { location ~ ^/api { proxy_pass http://127.0.0.1:9000; } }")
	if pp := cfg.Servers[0].Locations[0].ProxyPass; pp.HasURI || pp.Addr != "127.0.0.1:9000" {
		t.Errorf("got %+v", *pp)
	}
}

func TestReturn(t *testing.T) {
	tests := []struct {
		args string
		code int
		text string
	}{
		{"200 ok", 200, "ok"},
		{`200 "hello world\n"`, 200, "hello world\n"},
		{"404", 404, ""},
		{"0", 0, ""},
		{"999 x", 999, "x"},
		{"301 https://example.com$request_uri", 301, "https://example.com$request_uri"},
		{"308 /elsewhere", 308, "/elsewhere"},
		{"https://example.com/", 302, "https://example.com/"},
		{"http://example.com/", 302, "http://example.com/"},
		{"$scheme://example.com$uri", 302, "$scheme://example.com$uri"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			cfg := mustLoad(t, "server {\n return "+tt.args+";\n location / {\n  return "+tt.args+";\n }\n}")
			srv := cfg.Servers[0]
			want := Return{Pos: Pos{Line: 2}, Code: tt.code, Text: tt.text}
			for _, r := range []*Return{srv.Return, srv.Locations[0].Return} {
				if r == nil {
					t.Fatal("no Return")
				}
				got := *r
				got.Pos = noFile(got.Pos)
				if got.Code != want.Code || got.Text != want.Text {
					t.Errorf("got %+v, want %+v", got, want)
				}
			}
			if l := srv.Return.Pos.Line; l != 2 {
				t.Errorf("server return at line %d", l)
			}
		})
	}
}

// settingsOf returns the effective settings of the server (path "") or of
// the location reached by following paths of nested locations.
// The response-header and real-IP settings are left out
// (respheaders_test.go and realip_test.go test them).
func settingsOf(t *testing.T, cfg *Config, paths ...string) ProxySettings {
	t.Helper()
	srv := cfg.Servers[0]
	if len(paths) == 0 {
		ps := srv.Proxy
		ps.Static = Static{} // static_test.go checks it
		ps.Response, ps.RealIP, ps.PassRequest = ResponseHeaders{}, RealIP{}, PassRequest{}
		ps.Client.BodyTempPath = "" // TestClientBodyTempPath checks it
		return ps
	}
	locs := srv.Locations
	var l *Location
	for _, p := range paths {
		l = nil
		for _, c := range locs {
			if c.Path == p {
				l = c
			}
		}
		if l == nil {
			t.Fatalf("no location %q", p)
		}
		locs = l.Locations
	}
	ps := l.Proxy
	ps.Static = Static{} // static_test.go checks it
	ps.Response, ps.RealIP, ps.PassRequest = ResponseHeaders{}, RealIP{}, PassRequest{}
	ps.Client.BodyTempPath = "" // TestClientBodyTempPath checks it
	return ps
}

func TestProxySettingsDefaults(t *testing.T) {
	cfg := mustLoad(t, "server { location / { } }")
	for _, ps := range []ProxySettings{settingsOf(t, cfg), settingsOf(t, cfg, "/")} {
		if !reflect.DeepEqual(ps, defaultProxy()) {
			t.Errorf("got  %+v\nwant %+v", ps, defaultProxy())
		}
	}
}

func TestProxySettingsEveryDirective(t *testing.T) {
	cfg, path, err := load(t, `log_format main escape=json '$remote_addr ' "$status";
server {
    location / {
        proxy_connect_timeout 5s;
        proxy_read_timeout 1m;
        proxy_send_timeout 500ms;
        keepalive_timeout 30 25;
        proxy_next_upstream error http_502 http_503;
        proxy_next_upstream http_504 non_idempotent;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;
        client_max_body_size 10m;
        proxy_http_version 1.1;
        proxy_buffering OFF;
        access_log logs/access.log main buffer=32k flush=5s;
        proxy_set_header X-Empty "";
        access_log stderr combined if=$arg_log;
        client_body_timeout 5s;
        send_timeout 7s;
        keepalive_requests 10;
        keepalive_time 10m;
        limit_rate 100k;
        limit_rate_after 1m;
    }
}`)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	want := ProxySettings{
		SetHeaders:             []Header{{Pos: at(16), Name: "X-Empty"}, {Name: "Host", Value: "$proxy_host"}},
		ConnectTimeout:         5 * time.Second,
		ReadTimeout:            time.Minute,
		SendTimeout:            500 * time.Millisecond,
		KeepaliveTimeout:       30 * time.Second,
		KeepaliveHeaderTimeout: 25 * time.Second,
		NextUpstream:           NextError | NextHTTP502 | NextHTTP503 | NextHTTP504 | NextNonIdempotent,
		NextUpstreamTries:      3,
		NextUpstreamTimeout:    10 * time.Second,
		ClientMaxBodySize:      10 << 20,
		AccessLogs: []AccessLog{{Pos: at(15), Path: filepath.Join(filepath.Dir(path), "logs/access.log"), Buffer: 32 << 10, Flush: 5 * time.Second,
			Format: &LogFormat{Pos: at(1), Name: "main", Escape: "json", Format: "$remote_addr $status"}},
			{Pos: at(17), Path: "stderr", Format: combined, If: "$arg_log"}},
		Client: ClientSettings{HeaderTimeout: time.Minute, BodyTimeout: 5 * time.Second, SendTimeout: 7 * time.Second,
			KeepaliveRequests: 10, KeepaliveTime: 10 * time.Minute, LimitRate: 100 << 10, LimitRateAfter: 1 << 20,
			RequestBuffering: true, BodyBufferSize: 16 << 10},
		Redirects: Redirects{Absolute: true, Port: true},
		SSL:       defaultUpstreamSSL(),
	}
	if got := settingsOf(t, cfg, "/"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// The server keeps the defaults: settings do not flow outwards.
	if got := settingsOf(t, cfg); !reflect.DeepEqual(got, defaultProxy()) {
		t.Errorf("server got %+v", got)
	}
}

func TestProxySettingsInheritance(t *testing.T) {
	cfg := mustLoad(t, `proxy_read_timeout 10s;
client_max_body_size 0;
server {
    proxy_connect_timeout 2s;
    location /a/ {
        proxy_read_timeout 20s;
        location /a/b/ {
            proxy_next_upstream off;
        }
    }
    location /c/ { }
}
# Written after the server, still inherited: nginx merges after parsing.
proxy_send_timeout 7s;
access_log off;
`)
	server := defaultProxy()
	server.ReadTimeout = 10 * time.Second
	server.ClientMaxBodySize = 0
	server.ConnectTimeout = 2 * time.Second
	server.SendTimeout = 7 * time.Second
	server.AccessLogs = nil
	a := server
	a.ReadTimeout = 20 * time.Second
	ab := a
	ab.NextUpstream = 0
	tests := []struct {
		paths []string
		want  ProxySettings
	}{
		{nil, server},
		{[]string{"/c/"}, server},
		{[]string{"/a/"}, a},
		{[]string{"/a/", "/a/b/"}, ab},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, " "), func(t *testing.T) {
			got := settingsOf(t, cfg, tt.paths...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProxySetHeaderInheritance(t *testing.T) {
	cfg := mustLoad(t, `http {
    proxy_set_header X-From http;
    server {
        location /inherit-http/ { }
    }
    server {
        proxy_set_header X-From server;
        location /inherit-server/ { }
        location /own/ {
            proxy_set_header X-From location;
            location /own/nested/ { }
        }
        location /host/ {
            proxy_set_header host $host;
            proxy_set_header Connection "";
        }
    }
}`)
	type hv struct{ name, value string }
	headers := func(ps ProxySettings) []hv {
		var out []hv
		for _, h := range ps.SetHeaders {
			out = append(out, hv{h.Name, h.Value})
		}
		return out
	}
	host := hv{"Host", "$proxy_host"}
	tests := []struct {
		name   string
		server int
		paths  []string
		want   []hv
	}{
		{"server inherits http", 0, nil, []hv{{"X-From", "http"}, host}},
		{"location inherits http", 0, []string{"/inherit-http/"}, []hv{{"X-From", "http"}, host}},
		{"server with its own list", 1, nil, []hv{{"X-From", "server"}, host}},
		{"location inherits server", 1, []string{"/inherit-server/"}, []hv{{"X-From", "server"}, host}},
		{"location with its own list", 1, []string{"/own/"}, []hv{{"X-From", "location"}, host}},
		{"nested inherits its location", 1, []string{"/own/", "/own/nested/"}, []hv{{"X-From", "location"}, host}},
		{"Host set in any case: no default", 1, []string{"/host/"}, []hv{{"host", "$host"}, {"Connection", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.Servers = cfg.Servers[tt.server:]
			if got := headers(settingsOf(t, &c, tt.paths...)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSettingsAreNotShared(t *testing.T) {
	cfg := mustLoad(t, "proxy_set_header A a;\nserver { location /x/ { } location /y/ { } }")
	x := settingsOf(t, cfg, "/x/").SetHeaders
	y := settingsOf(t, cfg, "/y/").SetHeaders
	x[0].Value = "changed"
	if y[0].Value != "a" || cfg.Servers[0].Proxy.SetHeaders[0].Value != "a" {
		t.Error("effective header lists share memory")
	}
}

func TestLogs(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		errorLog string // DIR is the configuration's directory
		access   AccessLog
	}{
		{"defaults", "server { }", "stderr", AccessLog{Path: "stdout"}},
		{"relative paths", "error_log logs/error.log warn;\naccess_log logs/access.log;\nserver { }", "DIR/logs/error.log", AccessLog{Path: "DIR/logs/access.log"}},
		{"absolute paths", "http {\nerror_log /var/log/limpet/error.log;\naccess_log /var/log/limpet/access.log combined;\nserver { } }", "/var/log/limpet/error.log", AccessLog{Path: "/var/log/limpet/access.log", Format: combined}},
		{"standard streams", "error_log stderr;\naccess_log stderr;\nserver { }", "stderr", AccessLog{Path: "stderr"}},
		{"dev files", "error_log /dev/stdout;\nserver { access_log /dev/stderr; }", "/dev/stdout", AccessLog{Path: "/dev/stderr"}},
		{"off", "server { access_log off; }", "stderr", AccessLog{Off: true}},
		{"server error_log is ignored", "server { error_log /tmp/x.log; }", "stderr", AccessLog{Path: "stdout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, path, err := load(t, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Dir(path)
			if want := strings.Replace(tt.errorLog, "DIR", dir, 1); cfg.ErrorLog != want {
				t.Errorf("ErrorLog = %q, want %q", cfg.ErrorLog, want)
			}
			got := firstLog(cfg.Servers[0].Proxy)
			got.Pos = Pos{}
			want := tt.access
			want.Path = strings.Replace(want.Path, "DIR", dir, 1)
			if got != want {
				t.Errorf("AccessLog = %+v, want %+v", got, want)
			}
		})
	}
}

// pid and worker_shutdown_timeout, and where relative paths resolve
// with and without a prefix (nginx's -p): logs and the pid file against
// the prefix, the user file (like include) against the main file's
// directory.
func TestProcessSettings(t *testing.T) {
	tests := []struct {
		name, src, prefix string
		pid, errorLog     string
		accessLog         string
		userFile          string
		shutdown          time.Duration
	}{
		{"defaults", "server { }", "", "DIR/limpet.pid", "stderr", "stdout", "", 0},
		{"absolute pid", "pid /run/limpet.pid;\nworker_shutdown_timeout 30s;\nserver { }", "", "/run/limpet.pid", "stderr", "stdout", "", 30 * time.Second},
		{"relative paths, no prefix", "pid run/l.pid;\nerror_log logs/e.log;\naccess_log logs/a.log;\nserver { auth_basic x; auth_basic_user_file users; }", "", "DIR/run/l.pid", "DIR/logs/e.log", "DIR/logs/a.log", "DIR/users", 0},
		{"relative paths, prefix", "pid run/l.pid;\nerror_log logs/e.log;\naccess_log logs/a.log;\nserver { auth_basic x; auth_basic_user_file users; }", "/srv/lb", "/srv/lb/run/l.pid", "/srv/lb/logs/e.log", "/srv/lb/logs/a.log", "DIR/users", 0},
		{"default pid, prefix", "worker_shutdown_timeout 1500ms;\nserver { }", "/srv/lb", "/srv/lb/limpet.pid", "stderr", "stdout", "", 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "limpet.conf")
			if err := os.WriteFile(path, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			opts := testOptions
			opts.Prefix = tt.prefix
			cfg, err := Load(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Dir(path)
			fix := func(s string) string { return strings.ReplaceAll(s, "DIR", dir) }
			if cfg.PID != fix(tt.pid) {
				t.Errorf("PID = %q, want %q", cfg.PID, fix(tt.pid))
			}
			if cfg.ErrorLog != fix(tt.errorLog) {
				t.Errorf("ErrorLog = %q, want %q", cfg.ErrorLog, fix(tt.errorLog))
			}
			if got := firstLog(cfg.Servers[0].Proxy).Path; got != fix(tt.accessLog) {
				t.Errorf("access log = %q, want %q", got, fix(tt.accessLog))
			}
			if got := cfg.Servers[0].Access.AuthBasicUserFile; got != fix(tt.userFile) {
				t.Errorf("user file = %q, want %q", got, fix(tt.userFile))
			}
			if cfg.WorkerShutdownTimeout != tt.shutdown {
				t.Errorf("WorkerShutdownTimeout = %v, want %v", cfg.WorkerShutdownTimeout, tt.shutdown)
			}
		})
	}
}

func TestIgnored(t *testing.T) {
	cfg := mustLoad(t, `user nginx;
worker_processes auto;
worker_rlimit_nofile 65535;
worker_cpu_affinity auto;
worker_priority -5;
pid /run/nginx.pid;
daemon off;
master_process on;
events {
    worker_connections 1024;
    use epoll;
    multi_accept on;
    accept_mutex off;
}
http {
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    types {
        text/html html htm;
        image/png png;
    }
    default_type application/octet-stream;
    server_tokens off;
    types_hash_max_size 2048;
    types_hash_bucket_size 64;
    server_names_hash_bucket_size 64;
    server_names_hash_max_size 512;
    variables_hash_max_size 1024;
    log_format main '$remote_addr - $remote_user [$time_local] "$request"';
    gzip on;
    gzip_types text/plain application/json;
    gzip_comp_level 5;
    gzip_min_length 256;
    gzip_proxied any;
    gzip_vary on;
    gzip_buffers 16 8k;
    gzip_http_version 1.1;
    gzip_disable msie6;
    gzip_static on;
    keepalive_requests 100;
    charset utf-8;
    resolver 127.0.0.53 valid=30s;
    resolver_timeout 5s;
    proxy_buffers 8 16k;
    proxy_buffer_size 16k;
    proxy_busy_buffers_size 32k;
    client_body_buffer_size 128k;
    large_client_header_buffers 4 8k;
    upstream u {
        server 10.0.0.1;
        keepalive_timeout 60s;
    }
    server {
        location / {
        }
    }
}`)
	want := []string{
		"user", "worker_processes", "worker_rlimit_nofile", "worker_cpu_affinity", "worker_priority", "daemon",
		"master_process", "use", "multi_accept", "accept_mutex", "sendfile", "tcp_nopush",
		"tcp_nodelay", "server_tokens", "types_hash_max_size", "types_hash_bucket_size",
		"server_names_hash_bucket_size", "server_names_hash_max_size", "variables_hash_max_size", "gzip",
		"gzip_types", "gzip_comp_level", "gzip_min_length", "gzip_proxied", "gzip_vary", "gzip_buffers", "gzip_http_version",
		"gzip_disable", "gzip_static", "charset", "proxy_buffers", "proxy_buffer_size",
		"proxy_busy_buffers_size",
		"keepalive_timeout",
		// An http-level resolver that no upstream uses changes nothing.
		"resolver", "resolver_timeout",
	}
	var got []string
	for _, ig := range cfg.Ignored {
		got = append(got, ig.Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ignored\n got %q\nwant %q", got, want)
	}
	if p := cfg.Ignored[7].Pos; p.Line != 11 || p.File != cfg.File {
		t.Errorf("use at %v", p)
	}
	// worker_connections is honoured, not ignored.
	if cfg.WorkerConnections != 1024 {
		t.Errorf("WorkerConnections = %d, want 1024", cfg.WorkerConnections)
	}
	// keepalive_timeout in upstream does not touch the client timeout.
	if got := cfg.Servers[0].Proxy.KeepaliveTimeout; got != 75*time.Second {
		t.Errorf("KeepaliveTimeout = %v", got)
	}
}

// TestErrors asserts every error message in full. FILE is the path of
// the configuration file.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		// Syntax, through Load.
		{"parse error", "server {\n listen 80;\n", `unexpected end of file, expecting "}" in FILE:3`},

		// Generic checks of the directive table.
		{"unknown directive", "server {\n foo bar;\n}", `unknown directive "foo" in FILE:2`},
		{"unknown directive at top level", "\n\nfoo;", `unknown directive "foo" in FILE:3`},
		{"control characters escaped", "\"a\nb\tc\xff\\\"\";", `unknown directive "a\nb\tc\xff"" in FILE:2`},
		{"not allowed at top level", "proxy_pass http://x;", `"proxy_pass" directive is not allowed here in FILE:1`},
		{"proxy_pass in server", "server {\n proxy_pass http://x;\n}", `"proxy_pass" directive is not allowed here in FILE:2`},
		{"server inside server", "server {\n server { }\n}", `"server" directive is not allowed here in FILE:2`},
		{"location at top level", "location / { }", `"location" directive is not allowed here in FILE:1`},
		{"worker_processes in http", "http {\n worker_processes 1;\n}", `"worker_processes" directive is not allowed here in FILE:2`},
		{"ignored directive in the wrong place", "server { location / {\n ssl_protocols TLSv1.3; } }", `"ssl_protocols" directive is not allowed here in FILE:2`},
		{"listen in events", "events {\n listen 80;\n}", `"listen" directive is not allowed here in FILE:2`},
		{"unknown in events", "events {\n worker_connections 1024;\n foo;\n}", `unknown directive "foo" in FILE:3`},
		{"proxy setting in upstream", "upstream u {\n server 10.0.0.1;\n proxy_read_timeout 1s;\n}", `"proxy_read_timeout" directive is not allowed here in FILE:3`},
		{"too few arguments", "upstream u {\n server;\n}", `invalid number of arguments in "server" directive in FILE:2`},
		{"too many arguments", "server { listen 80; }\nworker_processes 1 2;", `invalid number of arguments in "worker_processes" directive in FILE:2`},
		{"arguments to a no-argument block", "server x { }", `invalid number of arguments in "server" directive in FILE:1`},
		{"flag with two arguments", "daemon on off;", `invalid number of arguments in "daemon" directive in FILE:1`},
		{"no block", "upstream u;", `directive "upstream" has no opening "{" in FILE:1`},
		{"unexpected block", "server {\n listen 80 { }\n}", `directive "listen" is not terminated by ";" in FILE:2`},
		{"bad flag", "daemon maybe;", `invalid value "maybe" in "daemon" directive, it must be "on" or "off"` + " in FILE:1"},
		{"duplicate http", "http { }\nhttp { }", `"http" directive is duplicate in FILE:2`},

		// worker_connections.
		{"worker_connections not a number", "events {\n worker_connections many;\n}", `invalid number "many" in FILE:2`},
		{"worker_connections negative", "events { worker_connections -1; }", `invalid number "-1" in FILE:1`},
		{"worker_connections zero", "events { worker_connections 0; }", `invalid value "0" in "worker_connections" directive, it must be 1 or more in FILE:1`},
		{"worker_connections twice", "events {\n worker_connections 10;\n worker_connections 20;\n}", `"worker_connections" directive is duplicate in FILE:3`},
		{"worker_connections in two events blocks", "events { worker_connections 10; }\nevents { worker_connections 20; }", `"worker_connections" directive is duplicate in FILE:2`},
		{"worker_connections outside events", "worker_connections 10;", `"worker_connections" directive is not allowed here in FILE:1`},

		// pid and worker_shutdown_timeout.
		{"duplicate pid", "pid a.pid;\npid b.pid;", `"pid" directive is duplicate in FILE:2`},
		{"empty pid", "pid \"\";", `invalid value "" in "pid" directive in FILE:1`},
		{"pid in http", "http {\n pid a.pid;\n}", `"pid" directive is not allowed here in FILE:2`},
		{"pid without argument", "pid;", `invalid number of arguments in "pid" directive in FILE:1`},
		{"bad worker_shutdown_timeout", "worker_shutdown_timeout soon;", `"worker_shutdown_timeout" directive invalid value in FILE:1`},
		{"duplicate worker_shutdown_timeout", "worker_shutdown_timeout 1s;\nworker_shutdown_timeout 2s;", `"worker_shutdown_timeout" directive is duplicate in FILE:2`},
		{"worker_shutdown_timeout in server", "server {\n worker_shutdown_timeout 1s;\n}", `"worker_shutdown_timeout" directive is not allowed here in FILE:2`},

		// error_log.
		{"bad log level", "error_log /tmp/e.log loud;", `invalid log level "loud" in FILE:1`},
		{"unknown access_log parameter", "access_log /tmp/a.log combined foo=1;", `invalid parameter "foo=1" in FILE:1`},
		{"access_log buffer without a size", "access_log /tmp/a.log combined buffer;", `invalid parameter "buffer" in FILE:1`},
		{"unknown log format", "access_log /tmp/a.log main;", `unknown log format "main" in FILE:1`},
		{"log format used before it is defined", "access_log /tmp/a.log main;\nlog_format main $status;", `unknown log format "main" in FILE:1`},
		{"duplicate log format", "log_format main $status;\nlog_format main $uri;", `duplicate "log_format" name "main" in FILE:2`},
		{"combined is predefined", "log_format combined $status;", `duplicate "log_format" name "combined" in FILE:1`},
		{"unknown escaping", "log_format main escape=xml $status;", `unknown log format escaping "xml" in FILE:1`},
		{"log_format in a server", "server {\n log_format main $status;\n}", `"log_format" directive is not allowed here in FILE:2`},
		{"flush without buffer", "access_log /tmp/a.log combined flush=5s;", `no buffer is defined for access_log "/tmp/a.log" in FILE:1`},
		{"zero buffer", "access_log /tmp/a.log combined buffer=0;", `invalid buffer size "0" in FILE:1`},
		{"bad flush", "access_log /tmp/a.log combined buffer=4k flush=x;", `invalid flush time "x" in FILE:1`},
		{"conflicting buffers", "access_log /tmp/a.log combined buffer=4k;\nserver {\n access_log /tmp/a.log combined buffer=8k;\n}", `access_log "/tmp/a.log" already defined with conflicting parameters in FILE:3`},
		{"gzip", "access_log /tmp/a.log combined gzip;", `the "gzip" parameter of "access_log" is not supported by limpet in FILE:1`},
		{"keepalive_requests not a number", "keepalive_requests many;", `"keepalive_requests" directive invalid number in FILE:1`},
		{"client_body_timeout bad", "server {\n client_body_timeout 5x;\n}", `"client_body_timeout" directive invalid value in FILE:2`},
		{"client_header_timeout in a location", "server {\n location / {\n  client_header_timeout 5s;\n }\n}", `"client_header_timeout" directive is not allowed here in FILE:3`},
		{"duplicate limit_rate", "limit_rate 1k;\nlimit_rate 2k;", `"limit_rate" directive is duplicate in FILE:2`},
		{"duplicate error_log", "error_log a.log;\nhttp { error_log b.log; }", `"error_log" directive is duplicate in FILE:2`},
		{"syslog error_log", "error_log syslog:server=10.0.0.1;", `syslog logging is not supported in FILE:1`},
		{"memory error_log", "error_log memory:32m debug;", `memory logging is not supported in FILE:1`},

		// upstream.
		{"duplicate upstream", "upstream a { server 10.0.0.1; }\nupstream A { server 10.0.0.2; }", `duplicate upstream "A" in FILE:2`},
		{"empty upstream", "\nupstream a {\n}", `no servers are inside upstream in FILE:2`},
		{"upstream with only a method", "upstream a {\n least_conn;\n}", `no servers are inside upstream in FILE:1`},
		{"host not found", "upstream a {\n server app-01.internal;\n server app-03.internal:80;\n}", `host not found in upstream "app-03.internal:80" in FILE:3`},
		{"port zero", "upstream a { server 10.0.0.1:0; }", `invalid port in upstream "10.0.0.1:0" in FILE:1`},
		{"port too big", "upstream a { server 10.0.0.1:65536; }", `invalid port in upstream "10.0.0.1:65536" in FILE:1`},
		{"empty port", "upstream a { server app-01.internal:; }", `invalid port in upstream "app-01.internal:" in FILE:1`},
		{"no host", "upstream a { server :80; }", `no host in upstream ":80" in FILE:1`},
		{"unclosed bracket", "upstream a { server [::1; }", `invalid host in upstream "[::1" in FILE:1`},
		{"IPv4 in brackets", "upstream a { server [10.0.0.1]:80; }", `invalid IPv6 address in upstream "[10.0.0.1]:80" in FILE:1`},
		{"junk after bracket", "upstream a { server [::1]x; }", `invalid host in upstream "[::1]x" in FILE:1`},
		{"URL as server", "upstream a { server http://x; }", `invalid port in upstream "http://x" in FILE:1`},
		{"path in server", "upstream a { server app/x; }", `invalid host in upstream "app/x" in FILE:1`},
		{"weight zero", "upstream a {\n server 10.0.0.1 weight=0;\n}", `invalid parameter "weight=0" in FILE:2`},
		{"weight not a number", "upstream a { server 10.0.0.1 weight=x; }", `invalid parameter "weight=x" in FILE:1`},
		{"weight without value", "upstream a { server 10.0.0.1 weight; }", `invalid parameter "weight" in FILE:1`},
		{"negative max_fails", "upstream a { server 10.0.0.1 max_fails=-1; }", `invalid parameter "max_fails=-1" in FILE:1`},
		{"fail_timeout in ms", "upstream a { server 10.0.0.1 fail_timeout=500ms; }", `invalid parameter "fail_timeout=500ms" in FILE:1`},
		{"bad fail_timeout", "upstream a { server 10.0.0.1 fail_timeout=soon; }", `invalid parameter "fail_timeout=soon" in FILE:1`},
		{"bad max_conns", "upstream a { server 10.0.0.1 max_conns=many; }", `invalid parameter "max_conns=many" in FILE:1`},
		{"negative max_conns", "upstream a { server 10.0.0.1 max_conns=-1; }", `invalid parameter "max_conns=-1" in FILE:1`},
		{"empty max_conns", "upstream a { server 10.0.0.1 max_conns=; }", `invalid parameter "max_conns=" in FILE:1`},
		{"queue without zone", "upstream a {\n server 10.0.0.1 max_conns=1;\n queue 10;\n}", `"queue" requires "zone" in upstream "a" in FILE:3`},
		{"queue zero", "upstream a { zone a; server 10.0.0.1; queue 0; }", `invalid value "0" in "queue" directive in FILE:1`},
		{"queue not a number", "upstream a { zone a; server 10.0.0.1; queue many; }", `invalid value "many" in "queue" directive in FILE:1`},
		{"queue negative", "upstream a { zone a; server 10.0.0.1; queue -1; }", `invalid value "-1" in "queue" directive in FILE:1`},
		{"queue bad timeout", "upstream a { zone a; server 10.0.0.1; queue 1 timeout=soon; }", `invalid parameter "timeout=soon" in FILE:1`},
		{"queue zero timeout", "upstream a { zone a; server 10.0.0.1; queue 1 timeout=0; }", `invalid parameter "timeout=0" in FILE:1`},
		{"queue other parameter", "upstream a { zone a; server 10.0.0.1; queue 1 wait=5s; }", `invalid parameter "wait=5s" in FILE:1`},
		{"queue three arguments", "upstream a { zone a; server 10.0.0.1; queue 1 timeout=1s x; }", `invalid number of arguments in "queue" directive in FILE:1`},
		{"queue without arguments", "upstream a { zone a; server 10.0.0.1; queue; }", `invalid number of arguments in "queue" directive in FILE:1`},
		{"duplicate queue", "upstream a {\n zone a;\n server 10.0.0.1;\n queue 1;\n queue 2;\n}", `"queue" directive is duplicate in FILE:5`},
		{"method after queue", "upstream a {\n zone a;\n server 10.0.0.1;\n queue 1;\n least_conn;\n}", `load balancing method must be set before "queue" in FILE:5`},
		{"queue outside upstream", "server { queue 1; }", `"queue" directive is not allowed here in FILE:1`},
		{"empty route", "upstream a { server 10.0.0.1 route=; }", `invalid parameter "route=" in FILE:1`},
		{"backup with a value", "upstream a { server 10.0.0.1 backup=1; }", `invalid parameter "backup=1" in FILE:1`},
		{"NGINX Plus parameter", "upstream a { server 10.0.0.1 sticky_weight=2; }", `invalid parameter "sticky_weight=2" in FILE:1`},
		{"backup with ip_hash after", "upstream a {\n server 10.0.0.1;\n server 10.0.0.2 backup;\n server 10.0.0.3 backup;\n ip_hash;\n}", `invalid parameter "backup" in FILE:3`},
		{"backup with hash before", "upstream a {\n hash $uri;\n server 10.0.0.1;\n server 10.0.0.2 backup;\n}", `invalid parameter "backup" in FILE:4`},
		{"backup with random", "upstream a {\n server 10.0.0.2 down backup;\n random two;\n}", `invalid parameter "backup" in FILE:2`},
		{"method redefined", "upstream a {\n server 10.0.0.1;\n least_conn;\n ip_hash;\n}", `load balancing method redefined in FILE:4`},
		{"same method twice", "upstream a {\n server 10.0.0.1;\n least_conn;\n least_conn;\n}", `load balancing method redefined in FILE:4`},
		{"random three", "upstream a { server 10.0.0.1; random three; }", `invalid parameter "three" in FILE:1`},
		{"random two round_robin", "upstream a { server 10.0.0.1; random two round_robin; }", `invalid parameter "round_robin" in FILE:1`},
		{"random with three arguments", "upstream a { server 10.0.0.1; random two least_conn x; }", `invalid number of arguments in "random" directive in FILE:1`},
		{"ip_hash with an argument", "upstream a { server 10.0.0.1; ip_hash x; }", `invalid number of arguments in "ip_hash" directive in FILE:1`},
		{"hash ring", "upstream a { server 10.0.0.1; hash $uri ring; }", `invalid parameter "ring" in FILE:1`},
		{"hash without key", "upstream a { server 10.0.0.1; hash; }", `invalid number of arguments in "hash" directive in FILE:1`},
		{"keepalive zero", "upstream a { server 10.0.0.1; keepalive 0; }", `invalid value "0" in "keepalive" directive in FILE:1`},
		{"keepalive not a number", "upstream a { server 10.0.0.1; keepalive some; }", `invalid value "some" in "keepalive" directive in FILE:1`},
		{"duplicate keepalive", "upstream a {\n server 10.0.0.1;\n keepalive 8;\n keepalive 8;\n}", `"keepalive" directive is duplicate in FILE:4`},
		{"bad zone size", "upstream a { server 10.0.0.1; zone z big; }", `invalid zone size "big" in FILE:1`},
		{"duplicate zone", "upstream a {\n server 10.0.0.1;\n zone z;\n zone z;\n}", `"zone" directive is duplicate in FILE:4`},
		{"sticky route", "upstream a {\n server 10.0.0.1;\n sticky route $route_cookie $route_uri;\n}", `"sticky route" is not supported yet in FILE:3`},
		{"sticky learn", "upstream a { server 10.0.0.1; sticky learn create=$x lookup=$y zone=z:1m; }", `"sticky learn" is not supported yet in FILE:1`},
		{"sticky other", "upstream a { server 10.0.0.1; sticky header x; }", `invalid parameter "header" in FILE:1`},
		{"sticky cookie without name", "upstream a { server 10.0.0.1; sticky cookie; }", `invalid number of arguments in "sticky" directive in FILE:1`},
		{"sticky without arguments", "upstream a { server 10.0.0.1; sticky; }", `invalid number of arguments in "sticky" directive in FILE:1`},
		{"duplicate sticky", "upstream a {\n server 10.0.0.1;\n sticky cookie a;\n sticky cookie b;\n}", `"sticky" directive is duplicate in FILE:4`},
		{"bad cookie name", "upstream a { server 10.0.0.1; sticky cookie \"a b\"; }", `invalid cookie name "a b" in FILE:1`},
		{"bad expires", "upstream a { server 10.0.0.1; sticky cookie s expires=soon; }", `invalid parameter "expires=soon" in FILE:1`},
		{"expires in ms", "upstream a { server 10.0.0.1; sticky cookie s expires=500ms; }", `invalid parameter "expires=500ms" in FILE:1`},
		{"bad samesite", "upstream a { server 10.0.0.1; sticky cookie s samesite=strictest; }", `invalid parameter "samesite=strictest" in FILE:1`},
		{"enforce_expiry without expires", "upstream a { server 10.0.0.1; sticky cookie s enforce_expiry; }", `"enforce_expiry" requires "expires" in FILE:1`},
		{"samesite variable with semicolon", "upstream a { server 10.0.0.1; sticky cookie s \"samesite=$x;y\"; }", `invalid parameter "samesite=$x;y" in FILE:1`},
		{"path with semicolon", "upstream a { server 10.0.0.1; sticky cookie s \"path=/;x\"; }", `invalid parameter "path=/;x" in FILE:1`},
		{"unknown sticky parameter", "upstream a { server 10.0.0.1; sticky cookie s HttpOnly; }", `invalid parameter "HttpOnly" in FILE:1`},

		// server and listen.
		{"ssl without a certificate", "server {\n listen 443 ssl;\n}", `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:1`},
		{"quic", "server { listen 443 quic; }", `invalid parameter "quic" in FILE:1`},
		{"proxy_protocol", "server { listen 80 proxy_protocol; }", `invalid parameter "proxy_protocol" in FILE:1`},
		{"listen on unix socket", "server { listen unix:/tmp/l.sock; }", `listening on a unix domain socket ("unix:/tmp/l.sock") is not supported by limpet in FILE:1`},
		{"listen on unix socket without a path", "server { listen unix:; }", `no path in the unix domain socket in "unix:" of the "listen" directive in FILE:1`},
		{"listen port too big", "server { listen 70000; }", `invalid port in "70000" of the "listen" directive in FILE:1`},
		{"listen bad port", "server { listen 10.0.0.1:x; }", `invalid port in "10.0.0.1:x" of the "listen" directive in FILE:1`},
		{"bad backlog", "server { listen 80 backlog=0; }", `invalid backlog "backlog=0" in FILE:1`},
		{"negative backlog", "server { listen 80 backlog=-1; }", `invalid backlog "backlog=-1" in FILE:1`},
		{"so_keepalive count not a number", "server { listen 80 so_keepalive=1:2:x; }", `invalid so_keepalive value: "1:2:x" in FILE:1`},
		{"so_keepalive with four parts", "server { listen 80 so_keepalive=1:2:3:4; }", `invalid so_keepalive value: "1:2:3:4" in FILE:1`},
		{"so_keepalive all zero", "server { listen 80 so_keepalive=0:0:0; }", `invalid so_keepalive value: "0:0:0" in FILE:1`},
		{"duplicate listen options", "server {\n listen 8080 backlog=10;\n}\nserver {\n listen 8080 reuseport;\n}", `duplicate listen options for 0.0.0.0:8080 in FILE:5`},
		{"duplicate listen options, spelled differently", "server {\n listen 127.0.0.1:8080 so_keepalive=on;\n}\nserver {\n listen [::ffff:127.0.0.1]:8080 so_keepalive=off;\n}", `duplicate listen options for 127.0.0.1:8080 in FILE:5`},
		{"duplicate default server, spelled differently", "server {\n listen 0.0.0.0:8080 default_server;\n}\nserver {\n listen 8080 default_server;\n}", `a duplicate default server for 0.0.0.0:8080 in FILE:5`},
		{"bad so_keepalive", "server { listen 80 so_keepalive=x; }", `invalid so_keepalive value: "x" in FILE:1`},
		{"empty so_keepalive", "server { listen 80 so_keepalive=::; }", `invalid so_keepalive value: "::" in FILE:1`},
		{"so_keepalive in ms", "server { listen 80 so_keepalive=500ms::; }", `invalid so_keepalive value: "500ms::" in FILE:1`},
		{"duplicate listen", "server {\n listen 80;\n listen *:80;\n}", `a duplicate listen 0.0.0.0:80 in FILE:3`},
		{"duplicate IPv6 default server", "server {\n listen [::]:80 default_server;\n}\nserver {\n listen [0::0]:80 default_server;\n}", `a duplicate default server for [::]:80 in FILE:5`},
		{"duplicate IPv6 listen options", "server {\n listen [::]:80 ipv6only=on;\n}\nserver {\n listen [::]:80 reuseport;\n}", `duplicate listen options for [::]:80 in FILE:5`},
		{"ipv6only on IPv4", "server {\n listen 127.0.0.1:80 ipv6only=on;\n}", `ipv6only is not supported on addr "127.0.0.1:80" in FILE:2`},
		{"ipv6only on a bare port", "server {\n listen 80 ipv6only=off;\n}", `ipv6only is not supported on addr "0.0.0.0:80" in FILE:2`},
		{"ipv6only on a host name", "server {\n listen localhost:80 ipv6only=off;\n}", `ipv6only is not supported on addr "localhost:80" in FILE:2`},
		{"ipv6only flags", "server {\n listen [::]:80 ipv6only=onn;\n}", `invalid ipv6only flags "=onn" in FILE:2`},
		{"ipv6only without o", "server {\n listen [::]:80 ipv6only=yes;\n}", `invalid parameter "ipv6only=yes" in FILE:2`},
		{"duplicate default server", "server {\n listen 8080 default_server;\n}\nserver {\n listen 8080 default;\n}", `a duplicate default server for 0.0.0.0:8080 in FILE:5`},
		{"server_name without names", "server { server_name; }", `invalid number of arguments in "server_name" directive in FILE:1`},

		// location.
		{"location outside its parent", "server {\n location /a/ {\n  location /b/ { }\n }\n}", `location "/b/" is outside location "/a/" in FILE:3`},
		{"location inside exact", "server {\n location = / {\n  location /x { }\n }\n}", `location "/x" cannot be inside the exact location "/" in FILE:3`},
		{"named location nested", "server {\n location / {\n  location @fallback { }\n }\n}", `named location "@fallback" can be on the server level only in FILE:3`},
		{"bad regex", "server {\n location ~ (foo { }\n}", `invalid regular expression "(foo": missing closing ) in FILE:2`},
		{"PCRE-only regex", "server { location ~* a(?=b) { } }", `invalid regular expression "a(?=b)": invalid or unsupported Perl syntax in FILE:1`},
		{"duplicate location", "server {\n location /x { }\n location /x { }\n}", `duplicate location "/x" in FILE:3`},
		{"duplicate prefix and ^~", "server {\n location /x { }\n location ^~ /x { }\n}", `duplicate location "/x" in FILE:3`},
		{"duplicate exact", "server {\n location = /x { }\n location =/x { }\n}", `duplicate location "/x" in FILE:3`},
		{"duplicate regex", "server {\n location ~ \\.php$ { }\n location ~ \\.php$ { }\n}", `duplicate location "\.php$" in FILE:3`},
		{"duplicate nested", "server { location /a/ {\n location /a/b { }\n location /a/b { }\n} }", `duplicate location "/a/b" in FILE:3`},
		{"bad modifier", "server { location !! /x { } }", `invalid location modifier "!!" in FILE:1`},
		{"location without path", "server {\n location { }\n}", `invalid number of arguments in "location" directive in FILE:2`},
		{"location without block", "server {\n location /x;\n}", `directive "location" has no opening "{" in FILE:2`},

		// proxy_pass.
		{"duplicate proxy_pass", "server { location / {\n proxy_pass http://10.0.0.1;\n proxy_pass http://10.0.0.2;\n} }", `"proxy_pass" directive is duplicate in FILE:3`},
		{"other scheme", "server { location / { proxy_pass ftp://10.0.0.1; } }", `invalid URL prefix in "ftp://10.0.0.1" in FILE:1`},
		{"no scheme", "server { location / { proxy_pass backend; } }", `invalid URL prefix in "backend" in FILE:1`},
		{"variables without a host", "server { location / {\n proxy_pass http:///$request_uri; } }", `no host in upstream "/$request_uri" in FILE:2`},
		{"URI in regex location", "server {\n location ~ ^/api {\n  proxy_pass http://10.0.0.1/;\n }\n}",
			`"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block in FILE:3`},
		{"proxy_pass host not found", "server { location / {\n proxy_pass http://nowhere.internal:8080/;\n} }", `host not found in upstream "nowhere.internal" in FILE:2`},
		{"misspelt upstream", "upstream backend { server 10.0.0.1; }\nserver { location / {\n proxy_pass http://backnd;\n} }", `host not found in upstream "backnd" in FILE:3`},
		{"upstream with a port", "server { location / {\n proxy_pass http://backend:8080;\n} }\nupstream backend { server 10.0.0.1; }", `upstream "backend" may not have port 8080 in FILE:2`},
		{"proxy_pass without host", "server { location / { proxy_pass http://; } }", `no host in upstream "" in FILE:1`},
		{"proxy_pass without host, with URI", "server { location / { proxy_pass http:///x; } }", `no host in upstream "/x" in FILE:1`},
		{"proxy_pass port zero", "server { location / { proxy_pass http://10.0.0.1:0/; } }", `invalid port in upstream "10.0.0.1:0/" in FILE:1`},

		// return.
		{"return code too big", "server { return 1000; }", `invalid return code "1000" in FILE:1`},
		{"return word", "server { location / { return abc; } }", `invalid return code "abc" in FILE:1`},
		{"return negative", "server { return -1 x; }", `invalid return code "-1" in FILE:1`},
		{"return relative URL alone", "server { return /x; }", `invalid return code "/x" in FILE:1`},
		{"return three arguments", "server { return 301 a b; }", `invalid number of arguments in "return" directive in FILE:1`},
		{"duplicate return", "server {\n return 200;\n return 404;\n}", `"return" directive is duplicate in FILE:3`},
		{"return in upstream", "upstream a { server 10.0.0.1; return 200; }", `"return" directive is not allowed here in FILE:1`},

		// Proxy settings.
		{"bad time", "server {\n proxy_read_timeout 5x;\n}", `"proxy_read_timeout" directive invalid value in FILE:2`},
		{"year in milliseconds", "proxy_connect_timeout 1y;", `"proxy_connect_timeout" directive invalid value in FILE:1`},
		{"duplicate time", "server {\n proxy_send_timeout 1s;\n proxy_send_timeout 2s;\n}", `"proxy_send_timeout" directive is duplicate in FILE:3`},
		{"bad keepalive_timeout", "keepalive_timeout forever;", `"keepalive_timeout" directive invalid value in FILE:1`},
		{"bad keepalive header time", "keepalive_timeout 10s 500ms;", `"keepalive_timeout" directive invalid value in FILE:1`},
		{"keepalive_timeout three arguments", "keepalive_timeout 1 2 3;", `invalid number of arguments in "keepalive_timeout" directive in FILE:1`},
		{"duplicate keepalive_timeout", "keepalive_timeout 1;\nkeepalive_timeout 2;", `"keepalive_timeout" directive is duplicate in FILE:2`},
		{"bad next upstream", "proxy_next_upstream error xyz;", `invalid value "xyz" in "proxy_next_upstream" directive in FILE:1`},
		{"off with others", "proxy_next_upstream error off;", `invalid value "off" in "proxy_next_upstream" directive in FILE:1`},
		{"off then more", "proxy_next_upstream off;\nproxy_next_upstream error;", `"proxy_next_upstream" directive is duplicate in FILE:2`},
		{"more then off", "proxy_next_upstream error;\nproxy_next_upstream off;", `"proxy_next_upstream" directive is duplicate in FILE:2`},
		{"bad tries", "proxy_next_upstream_tries -1;", `"proxy_next_upstream_tries" directive invalid number in FILE:1`},
		{"duplicate tries", "proxy_next_upstream_tries 1;\nproxy_next_upstream_tries 2;", `"proxy_next_upstream_tries" directive is duplicate in FILE:2`},
		{"bad next upstream timeout", "proxy_next_upstream_timeout 1q;", `"proxy_next_upstream_timeout" directive invalid value in FILE:1`},
		{"bad size", "server { location / {\n client_max_body_size 1t;\n} }", `"client_max_body_size" directive invalid value in FILE:2`},
		{"duplicate size", "client_max_body_size 1m;\nclient_max_body_size 2m;", `"client_max_body_size" directive is duplicate in FILE:2`},
		{"bad http version", "proxy_http_version 2.0;", `invalid value "2.0" in "proxy_http_version" directive in FILE:1`},
		{"duplicate http version", "proxy_http_version 1.1;\nproxy_http_version 1.1;", `"proxy_http_version" directive is duplicate in FILE:2`},
		{"bad buffering", "proxy_buffering maybe;", `invalid value "maybe" in "proxy_buffering" directive, it must be "on" or "off" in FILE:1`},
		{"duplicate buffering", "proxy_buffering on;\nproxy_buffering off;", `"proxy_buffering" directive is duplicate in FILE:2`},
		{"proxy_set_header one argument", "proxy_set_header X-A;", `invalid number of arguments in "proxy_set_header" directive in FILE:1`},
		{"access_log off with more", "access_log off main;", `invalid parameter "main" in FILE:1`},
		{"access_log with variables", "access_log /var/log/$host.log;", `variables in log paths are not supported in FILE:1`},
		{"access_log to syslog", "access_log syslog:server=10.0.0.1;", `syslog logging is not supported in FILE:1`},
		{"access_log without arguments", "access_log;", `invalid number of arguments in "access_log" directive in FILE:1`},

		// slow_start and drain.
		{"slow_start with hash", "upstream a {\n hash $uri;\n server 10.0.0.1 slow_start=30s;\n}", `invalid parameter "slow_start=30s" in FILE:3`},
		{"slow_start with ip_hash after", "upstream a {\n server 10.0.0.1;\n server 10.0.0.2 slow_start=1m;\n ip_hash;\n}", `invalid parameter "slow_start=1m" in FILE:3`},
		{"slow_start with random", "upstream a {\n random;\n server 10.0.0.1 slow_start=0;\n}", `invalid parameter "slow_start=0" in FILE:3`},
		{"slow_start in ms", "upstream a { server 10.0.0.1 slow_start=500ms; }", `invalid parameter "slow_start=500ms" in FILE:1`},
		{"slow_start without value", "upstream a { server 10.0.0.1 slow_start; }", `invalid parameter "slow_start" in FILE:1`},
		{"drain with a value", "upstream a { server 10.0.0.1 drain=1; }", `invalid parameter "drain=1" in FILE:1`},

		// match.
		{"duplicate match", "match ok { status 200; }\nhttp {\n match ok { }\n}", `duplicate match "ok" in FILE:3`},
		{"match without name", "match { }", `invalid number of arguments in "match" directive in FILE:1`},
		{"match without block", "match ok;", `directive "match" has no opening "{" in FILE:1`},
		{"match in server", "server {\n match ok { }\n}", `"match" directive is not allowed here in FILE:2`},
		{"require", "match ok {\n require $upstream_status;\n}", `"require" is not supported in FILE:2`},
		{"status outside match", "server { status 200; }", `the "status" directive is not supported by limpet in FILE:1`},
		{"status word", "match ok {\n status ok;\n}", `invalid parameter "ok" in FILE:2`},
		{"status too low", "match ok { status 99; }", `invalid parameter "99" in FILE:1`},
		{"status too high", "match ok { status 200-600; }", `invalid parameter "200-600" in FILE:1`},
		{"status range backwards", "match ok { status ! 399-200; }", `invalid parameter "399-200" in FILE:1`},
		{"status range open", "match ok { status 200-; }", `invalid parameter "200-" in FILE:1`},
		{"status not alone", "match ok { status !; }", `invalid number of arguments in "status" directive in FILE:1`},
		{"status glued not", "match ok { status !500; }", `invalid parameter "!500" in FILE:1`},
		{"header bad operator", "match ok {\n header Content-Type == text/html;\n}", `invalid parameter "==" in FILE:2`},
		{"header two words", "match ok { header Content-Type text/html; }", `invalid parameter "Content-Type" in FILE:1`},
		{"header not alone", "match ok { header !; }", `invalid number of arguments in "header" directive in FILE:1`},
		{"header bad name", "match ok { header ! \"X A\"; }", `invalid parameter "X A" in FILE:1`},
		{"header four words", "match ok { header A = b c; }", `invalid number of arguments in "header" directive in FILE:1`},
		{"header bad regex", "match ok {\n\n header Server ~ \"(nginx\";\n}", `invalid regular expression "(nginx": missing closing ) in FILE:3`},
		{"body bad operator", "match ok { body = ok; }", `invalid parameter "=" in FILE:1`},
		{"body bad regex", "match ok {\n body !~ a(?!b);\n}", `invalid regular expression "a(?!b)": invalid or unsupported Perl syntax in FILE:2`},
		{"body one argument", "match ok { body ok; }", `invalid number of arguments in "body" directive in FILE:1`},

		// health_check.
		{"health_check without proxy_pass", "server {\n location / {\n  health_check;\n }\n}", `health_check requires proxy_pass to an upstream group in FILE:3`},
		{"health_check with proxy_pass to an address", "server { location / {\n health_check;\n proxy_pass http://10.0.0.1:8080;\n} }", `health_check requires proxy_pass to an upstream group in FILE:2`},
		{"health_check in a nested location", "upstream u { server 10.0.0.1; }\nserver { location / {\n proxy_pass http://u;\n location /x {\n  health_check;\n }\n} }", `health_check requires proxy_pass to an upstream group in FILE:5`},
		{"health_check match not found", "upstream u { server 10.0.0.1; }\nmatch ok { }\nserver { location / {\n proxy_pass http://u;\n health_check match=OK;\n} }", `match "OK" not found in FILE:5`},
		{"health_check in server", "server {\n health_check;\n}", `"health_check" directive is not allowed here in FILE:2`},
		{"health_check in upstream", "upstream u { server 10.0.0.1; health_check; }", `"health_check" directive is not allowed here in FILE:1`},
		{"persistent without mandatory", "upstream u { server 10.0.0.1; }\nserver { location / {\n proxy_pass http://u;\n health_check persistent;\n} }", `"persistent" requires "mandatory" in FILE:4`},
		{"health_check type=grpc", "server { location / { health_check type=grpc grpc_status=12; } }", `invalid parameter "type=grpc" in FILE:1`},
		{"health_check keepalive_time", "server { location / { health_check keepalive_time=60s; } }", `invalid parameter "keepalive_time=60s" in FILE:1`},
		{"health_check interval zero", "server { location / { health_check interval=0; } }", `invalid parameter "interval=0" in FILE:1`},
		{"health_check interval in years", "server { location / { health_check interval=1y; } }", `invalid parameter "interval=1y" in FILE:1`},
		{"health_check bad jitter", "server { location / { health_check jitter=x; } }", `invalid parameter "jitter=x" in FILE:1`},
		{"health_check fails zero", "server { location / { health_check fails=0; } }", `invalid parameter "fails=0" in FILE:1`},
		{"health_check bad passes", "server { location / { health_check passes=-1; } }", `invalid parameter "passes=-1" in FILE:1`},
		{"health_check relative uri", "server { location / { health_check uri=health; } }", `invalid parameter "uri=health" in FILE:1`},
		{"health_check uri with space", "server { location / { health_check \"uri=/a b\"; } }", `invalid parameter "uri=/a b" in FILE:1`},
		{"health_check port zero", "server { location / { health_check port=0; } }", `invalid parameter "port=0" in FILE:1`},
		{"health_check port too big", "server { location / { health_check port=65536; } }", `invalid parameter "port=65536" in FILE:1`},
		{"health_check empty match", "server { location / { health_check match=; } }", `invalid parameter "match=" in FILE:1`},
		{"health_check mandatory=on", "server { location / { health_check mandatory=on; } }", `invalid parameter "mandatory=on" in FILE:1`},

		// api, metrics, dashboard.
		{"duplicate api", "server { location /api {\n api;\n api write=on;\n} }", `"api" directive is duplicate in FILE:3`},
		{"api bad write", "server { location /api { api write=yes; } }", `invalid parameter "write=yes" in FILE:1`},
		{"api write twice", "server { location /api { api write=on write=off; } }", `invalid parameter "write=off" in FILE:1`},
		{"api unknown parameter", "server { location /api { api write=on status_zone=api; } }", `invalid parameter "status_zone=api" in FILE:1`},
		{"api in server", "server {\n api;\n}", `"api" directive is not allowed here in FILE:2`},
		{"api after proxy_pass", "server { location / {\n proxy_pass http://10.0.0.1;\n api;\n} }", `"proxy_pass" and "api" cannot be in the same location in FILE:3`},
		{"proxy_pass after api", "server { location / {\n api;\n proxy_pass http://10.0.0.1;\n} }", `"proxy_pass" and "api" cannot be in the same location in FILE:3`},
		{"return after metrics", "server { location / {\n metrics;\n return 200;\n} }", `"return" and "metrics" cannot be in the same location in FILE:3`},
		{"dashboard after api", "server { location / {\n api write=on;\n dashboard;\n} }", `"api" and "dashboard" cannot be in the same location in FILE:3`},
		{"metrics after dashboard", "server { location / {\n dashboard;\n metrics;\n} }", `"metrics" and "dashboard" cannot be in the same location in FILE:3`},
		{"duplicate metrics", "server { location / {\n metrics;\n metrics;\n} }", `"metrics" directive is duplicate in FILE:3`},
		{"duplicate dashboard", "server { location / {\n dashboard;\n dashboard;\n} }", `"dashboard" directive is duplicate in FILE:3`},
		{"metrics with an argument", "server { location / { metrics on; } }", `invalid number of arguments in "metrics" directive in FILE:1`},
		{"dashboard at top level", "dashboard;", `"dashboard" directive is not allowed here in FILE:1`},

		// allow, deny, auth_basic.
		{"allow bad address", "allow 10.0.0.256;", `invalid parameter "10.0.0.256" in FILE:1`},
		{"deny host name", "server {\n deny example.com;\n}", `invalid parameter "example.com" in FILE:2`},
		{"allow bad prefix length", "allow 10.0.0.0/33;", `invalid parameter "10.0.0.0/33" in FILE:1`},
		{"allow IPv6 zone", "allow fe80::1%eth0;", `invalid parameter "fe80::1%eth0" in FILE:1`},
		{"deny a unix path", "server { location / { deny unix:/run/a.sock; } }", `invalid parameter "unix:/run/a.sock" in FILE:1`},
		{"allow two arguments", "allow 10.0.0.1 10.0.0.2;", `invalid number of arguments in "allow" directive in FILE:1`},
		{"allow in upstream", "upstream u { server 10.0.0.1; allow all; }", `"allow" directive is not allowed here in FILE:1`},
		{"duplicate auth_basic", "server {\n auth_basic on;\n auth_basic off;\n}", `"auth_basic" directive is duplicate in FILE:3`},
		{"empty auth_basic", "auth_basic \"\";", `invalid value "" in "auth_basic" directive in FILE:1`},
		{"duplicate auth_basic_user_file", "server { location / {\n auth_basic_user_file a;\n auth_basic_user_file b;\n} }", `"auth_basic_user_file" directive is duplicate in FILE:3`},
		{"auth_basic_user_file with variables", "auth_basic_user_file /etc/$host.htpasswd;", `variables in auth_basic_user_file are not supported in FILE:1`},
		{"empty auth_basic_user_file", "auth_basic_user_file '';", `invalid value "" in "auth_basic_user_file" directive in FILE:1`},

		// limit_except.
		{"limit_except bad method", "server { location / {\n limit_except GET FOO { }\n} }", `invalid method "FOO" in FILE:2`},
		{"limit_except lower-case bad method", "server { location / { limit_except get connect { } } }", `invalid method "connect" in FILE:1`},
		{"duplicate limit_except", "server { location / {\n limit_except GET { }\n limit_except POST { }\n} }", `"limit_except" directive is duplicate in FILE:3`},
		{"limit_except in server", "server {\n limit_except GET { }\n}", `"limit_except" directive is not allowed here in FILE:2`},
		{"limit_except without methods", "server { location / { limit_except { } } }", `invalid number of arguments in "limit_except" directive in FILE:1`},
		{"limit_except without block", "server { location / { limit_except GET; } }", `directive "limit_except" has no opening "{" in FILE:1`},
		{"proxy_pass in limit_except", "server { location / { limit_except GET {\n proxy_pass http://10.0.0.1;\n} } }", `"proxy_pass" directive is not allowed here in FILE:2`},
		{"nested limit_except", "server { location / { limit_except GET {\n limit_except POST { }\n} } }", `"limit_except" directive is not allowed here in FILE:2`},
		{"duplicate auth_basic in limit_except", "server { location / { limit_except GET {\n auth_basic a;\n auth_basic b;\n} } }", `"auth_basic" directive is duplicate in FILE:3`},
		{"bad rule in limit_except", "server { location / { limit_except GET {\n deny 1.2.3;\n} } }", `invalid parameter "1.2.3" in FILE:2`},

		// sticky_debug_header.
		{"bad sticky_debug_header", "sticky_debug_header yes;", `invalid value "yes" in "sticky_debug_header" directive, it must be "on" or "off" in FILE:1`},
		{"duplicate sticky_debug_header", "server { location / {\n sticky_debug_header on;\n sticky_debug_header off;\n} }", `"sticky_debug_header" directive is duplicate in FILE:3`},
		{"sticky_debug_header in upstream", "upstream u { server 10.0.0.1; sticky_debug_header on; }", `"sticky_debug_header" directive is not allowed here in FILE:1`},

		// How a client's header is read.
		{"large_client_header_buffers in location", "server { location / {\n large_client_header_buffers 4 8k;\n} }", `"large_client_header_buffers" directive is not allowed here in FILE:2`},
		{"large_client_header_buffers with one argument", "large_client_header_buffers 4;", `invalid number of arguments in "large_client_header_buffers" directive in FILE:1`},
		{"large_client_header_buffers of no buffers", "\nlarge_client_header_buffers 0 8k;", `"large_client_header_buffers" directive invalid value in FILE:2`},
		{"large_client_header_buffers of a bad size", "large_client_header_buffers 4 8x;", `"large_client_header_buffers" directive invalid value in FILE:1`},
		{"large_client_header_buffers too small", "large_client_header_buffers 4 100;", `the "large_client_header_buffers" size must be equal to or greater than "connection_pool_size" in FILE:1`},
		{"duplicate large_client_header_buffers", "server {\n large_client_header_buffers 4 8k;\n large_client_header_buffers 2 8k;\n}", `"large_client_header_buffers" directive is duplicate in FILE:3`},
		{"client_header_buffer_size 0", "client_header_buffer_size 0;", `"client_header_buffer_size" directive invalid value in FILE:1`},
		{"client_header_buffer_size in location", "server { location / { client_header_buffer_size 1k; } }", `"client_header_buffer_size" directive is not allowed here in FILE:1`},
		{"max_headers 0", "server {\n max_headers 0;\n}", `"max_headers" directive invalid number in FILE:2`},
		{"max_headers not a number", "max_headers many;", `"max_headers" directive invalid number in FILE:1`},
		{"bad underscores_in_headers", "underscores_in_headers yes;", `invalid value "yes" in "underscores_in_headers" directive, it must be "on" or "off" in FILE:1`},
		{"ignore_invalid_headers in location", "server { location / { ignore_invalid_headers off; } }", `"ignore_invalid_headers" directive is not allowed here in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != path {
				t.Errorf("error %v is not an *Error in %s", err, path)
			}
		})
	}
}

func TestErrorsInIncludedFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // DIR is the temporary directory
	}{
		{
			name: "host not found",
			files: map[string]string{
				"limpet.conf":           "include conf.d/*.conf;",
				"conf.d/upstreams.conf": "upstream x {\n server app-03.internal;\n}",
			},
			want: `host not found in upstream "app-03.internal" in DIR/conf.d/upstreams.conf:2`,
		},
		{
			name: "unknown directive",
			files: map[string]string{
				"limpet.conf":     "http {\n include sites/*;\n}",
				"sites/a.example": "server {\n\n listen 80;\n lisen 81;\n}",
			},
			want: `unknown directive "lisen" in DIR/sites/a.example:4`,
		},
		{
			name: "context of the include applies",
			files: map[string]string{
				"limpet.conf": "server {\n include proxy.conf;\n}",
				"proxy.conf":  "proxy_set_header X-A a;\nproxy_pass http://10.0.0.1;",
			},
			want: `"proxy_pass" directive is not allowed here in DIR/proxy.conf:2`,
		},
		{
			name: "missing include",
			files: map[string]string{
				"limpet.conf": "http {\n\n include conf.d/missing.conf;\n}",
			},
			want: `open() "DIR/conf.d/missing.conf" failed (2: No such file or directory) in DIR/limpet.conf:3`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := Load(filepath.Join(dir, "limpet.conf"), testOptions)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("error %v\nwant  %s", err, want)
			}
		})
	}
}

func TestIncludedConfig(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"limpet.conf":             "http {\n include upstreams/*.conf;\n include sites/*.conf;\n}",
		"upstreams/backend.conf":  "upstream backend {\n server app-01.internal:8080;\n}",
		"sites/default.conf":      "server {\n listen 8080;\n include snippets/proxy.conf;\n location / { proxy_pass http://backend; }\n}",
		"snippets/proxy.conf":     "proxy_set_header X-Real-IP $remote_addr;",
		"sites/disabled.conf.bak": "this is not read",
	})
	cfg, err := Load(filepath.Join(dir, "limpet.conf"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	loc := cfg.Servers[0].Locations[0]
	if loc.ProxyPass.Upstream != cfg.Upstreams[0] || cfg.Upstreams[0].Servers[0].Pos.File != filepath.Join(dir, "upstreams/backend.conf") {
		t.Errorf("upstream not linked or mislocated: %+v", *cfg.Upstreams[0].Servers[0])
	}
	h := loc.Proxy.SetHeaders[0]
	if h.Name != "X-Real-IP" || h.Pos != (Pos{File: filepath.Join(dir, "snippets/proxy.conf"), Line: 1}) {
		t.Errorf("header %+v", h)
	}
}

func TestLoadBytes(t *testing.T) {
	dir := writeFiles(t, map[string]string{"inc/u.conf": "upstream u { server 10.0.0.1; }"})
	path := filepath.Join(dir, "not-on-disk.conf")
	cfg, err := LoadBytes(path, []byte("include inc/u.conf;\naccess_log x.log;\nserver { }"), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != path || len(cfg.Upstreams) != 1 || firstLog(cfg.Servers[0].Proxy).Path != filepath.Join(dir, "x.log") {
		t.Errorf("got %s", dumpConfig(cfg))
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.conf")
	_, err := Load(path, testOptions)
	want := fmt.Sprintf(`open() "%s" failed (2: No such file or directory)`, path)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Error("error does not wrap os.ErrNotExist")
	}
}

func TestIPLiteralsAreNotLookedUp(t *testing.T) {
	opts := Options{LookupHost: func(ctx context.Context, host string) ([]string, error) {
		t.Errorf("LookupHost(%q) called", host)
		return nil, errors.New("no DNS in this test")
	}}
	src := "upstream u { server 10.0.0.1:81; server [::1]; }\nserver { location / { proxy_pass http://127.0.0.1:9000; } }"
	if _, err := LoadBytes(filepath.Join(t.TempDir(), "x.conf"), []byte(src), opts); err != nil {
		t.Fatal(err)
	}
	// The default resolver is not needed for literals either.
	if _, err := LoadBytes(filepath.Join(t.TempDir(), "x.conf"), []byte(src), Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestTable(t *testing.T) {
	for name, entries := range table {
		var seen where
		for _, e := range entries {
			if e.handle == nil || e.where == 0 || e.args == 0 || e.name != name {
				t.Errorf("entry %+v is incomplete", *e)
			}
			if seen&e.where != 0 {
				t.Errorf("%q has two entries for one context", name)
			}
			seen |= e.where
		}
	}
}

// withoutIncludes drops include and state directives, so fuzzing never
// reads files.
func withoutIncludes(ds []*Directive) []*Directive {
	var out []*Directive
	for _, d := range ds {
		if d.Name == "include" || d.Name == "state" {
			continue
		}
		d.Block = withoutIncludes(d.Block)
		out = append(out, d)
	}
	return out
}

func FuzzBuild(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Add("upstream u { server multi.internal weight=2 backup; hash $x consistent; sticky cookie s expires=max; }\n" +
		"server { listen 8080 default_server so_keepalive=1m:2:3; location ~* ^/a { location /b { return 301 http://x; } }" +
		" location / { proxy_pass http://u/; proxy_next_upstream error http_502; } }")
	f.Add("match m { status ! 500-599 404; header X ~ a; header ! Y; header Z != z; body !~ err; }\n" +
		"upstream u { server 10.0.0.1 slow_start=30s drain; least_conn; }\n" +
		"allow 10.0.0.0/8; deny all; auth_basic r; auth_basic_user_file h; sticky_debug_header on;\n" +
		"server { allow 2001:db8::/32; location / { proxy_pass http://u; health_check interval=1s match=m mandatory persistent;" +
		" limit_except GET { deny all; auth_basic off; } } location /api { api write=on; allow ::1; deny all; }" +
		" location /m { metrics; } location /d { dashboard; sticky_debug_header off; } }")
	f.Fuzz(func(t *testing.T, src string) {
		tree, err := Parse("f.conf", []byte(src))
		if err != nil {
			return
		}
		cfg, err := build("f.conf", withoutIncludes(tree), testOptions)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != "f.conf" || ce.Pos.Line < 1 || ce.Pos.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("error %v has no position in the text", err)
			}
			// A few of nginx's messages name the position inside
			// their text instead (inline).
			at := " in " + ce.Pos.String()
			if !strings.HasSuffix(err.Error(), at) && !(ce.inline && strings.Contains(err.Error(), at+" ")) {
				t.Fatalf("error %q does not end with its position %s", err, ce.Pos)
			}
			return
		}
		for _, s := range cfg.Servers {
			if len(s.Listens) == 0 || len(s.Names) == 0 {
				t.Fatalf("server without defaults: %+v", *s)
			}
		}
		for _, u := range cfg.Upstreams {
			if len(u.Servers) == 0 {
				t.Fatalf("upstream %q without servers", u.Name)
			}
		}
		var checkLocations func([]*Location)
		checkLocations = func(ls []*Location) {
			for _, l := range ls {
				if len(l.HealthChecks) > 0 && (l.ProxyPass == nil || l.ProxyPass.Upstream == nil) {
					t.Fatalf("location %q has health checks and no upstream", l.Path)
				}
				if n := len(contentOf(l)); n > 2 || (n == 2 && (l.ProxyPass == nil || l.Return == nil)) {
					t.Fatalf("location %q has content handlers %q", l.Path, contentOf(l))
				}
				checkLocations(l.Locations)
			}
		}
		for _, s := range cfg.Servers {
			checkLocations(s.Locations)
		}
	})
}

func TestWorkerConnections(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{"default", "server { listen 80; }", DefaultWorkerConnections},
		{"empty events", "events { }\nserver { listen 80; }", DefaultWorkerConnections},
		{"set", "events { worker_connections 512; }\nserver { listen 80; }", 512},
		{"one", "events { worker_connections 1; }", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.src).WorkerConnections; got != tt.want {
				t.Errorf("WorkerConnections = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestErrorLogLevel: error_log's level is kept for the log to apply;
// without one it is "".
func TestErrorLogLevel(t *testing.T) {
	for src, want := range map[string]string{
		"error_log stderr warn;\nserver { }": "warn",
		"error_log stderr;\nserver { }":      "",
		"server { }":                         "",
	} {
		if got := mustLoad(t, src).ErrorLogLevel; got != want {
			t.Errorf("%q: level %q, want %q", src, got, want)
		}
	}
}

// TestServerNameRegexps: regex server names are compiled once, here,
// with nginx's caseless rule and errors at the server_name line.
func TestServerNameRegexps(t *testing.T) {
	cfg := mustLoad(t, "server {\n server_name a.test ~^www\\d+\\. ~^API\\.;\n}")
	res := cfg.Servers[0].NameRegexps
	if len(res) != 2 {
		t.Fatalf("%d regexes, want 2: %v", len(res), res)
	}
	for name, host := range map[string]string{`~^www\d+\.`: "www12.test", `~^API\.`: "api.test"} {
		if re := res[name]; re == nil || !re.MatchString(host) {
			t.Errorf("%s does not match %q (regexp %v)", name, host, re)
		}
	}
	if res[`~^www\d+\.`].MatchString("WWW1.test") {
		t.Errorf("a regex without upper-case letters is caseless")
	}
	for src, want := range map[string]string{
		"server {\n server_name ~;\n}":    `empty regex in server name "~" in FILE:2`,
		"server {\n server_name a ~(;\n}": `invalid regular expression "(": missing closing ) in FILE:2`,
	} {
		_, path, err := load(t, src)
		if want = strings.ReplaceAll(want, "FILE", path); err == nil || err.Error() != want {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

// TestKeepaliveHeaderInherited: keepalive_timeout's two arguments are one
// setting, inherited together: a level that writes only the timeout
// sends no header.
func TestKeepaliveHeaderInherited(t *testing.T) {
	cfg := mustLoad(t, "keepalive_timeout 30 25;\nserver { listen 81; }\nserver { listen 82; keepalive_timeout 10; }")
	for i, want := range []time.Duration{25 * time.Second, 0} {
		if got := cfg.Servers[i].Proxy.KeepaliveHeaderTimeout; got != want {
			t.Errorf("server %d: header timeout %v, want %v", i, got, want)
		}
	}
}
