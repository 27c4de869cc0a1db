package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestResolve checks what `resolver`, `resolver_timeout` and the
// `resolve` servers give an upstream, level by level.
func TestResolve(t *testing.T) {
	tests := []struct {
		name, src string
		resolver  *Resolver // want, Pos ignored
		timeout   time.Duration
		resolve   []UpstreamServer // want, Pos ignored
		servers   []string         // Addr of the static servers
	}{
		{
			name: "http resolver, defaults",
			src: `resolver 127.0.0.53;
upstream u { zone u 64k; server app.example resolve; }`,
			resolver: &Resolver{Addrs: []string{"127.0.0.53:53"}, IPv4: true, IPv6: true},
			timeout:  30 * time.Second,
			resolve: []UpstreamServer{{Name: "app.example", Host: "app.example", Port: 80,
				Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
		{
			name: "upstream resolver wins over http, every parameter",
			src: `resolver 127.0.0.53;
resolver_timeout 5s;
upstream u {
    zone u;
    resolver 127.0.0.1:5353 [::1] localhost valid=10s ipv6=off;
    resolver_timeout 250ms;
    server app.example:8080 resolve weight=3 max_fails=2 fail_timeout=5s slow_start=30s max_conns=4 route=a drain;
    server 10.0.0.9 resolve;
}`,
			resolver: &Resolver{Addrs: []string{"127.0.0.1:5353", "[::1]:53", "127.0.0.1:53"}, Valid: 10 * time.Second, IPv4: true},
			timeout:  250 * time.Millisecond,
			resolve: []UpstreamServer{{Name: "app.example:8080", Host: "app.example", Port: 8080, Weight: 3, MaxFails: 2,
				FailTimeout: 5 * time.Second, SlowStart: 30 * time.Second, MaxConns: 4, Route: "a", Drain: true}},
			// An address written as an IP literal is not resolved at run
			// time, as in nginx.
			servers: []string{"10.0.0.9:80"},
		},
		{
			name: "http timeout with the upstream's resolver",
			src: `resolver_timeout 2s;
upstream u { zone u; resolver 127.0.0.1 ipv4=off; server app.example resolve service=http backup; server 10.0.0.1; }`,
			resolver: &Resolver{Addrs: []string{"127.0.0.1:53"}, IPv6: true},
			timeout:  2 * time.Second,
			resolve: []UpstreamServer{{Name: "app.example", Host: "app.example", Port: 80, Service: "http",
				Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second, Backup: true}},
			servers: []string{"10.0.0.1:80"},
		},
		{
			name: "resolver after the upstream",
			src: `upstream u { zone u; server app.example resolve service=_sip._udp; }
http { resolver 127.0.0.2 valid=1m; }`,
			resolver: &Resolver{Addrs: []string{"127.0.0.2:53"}, Valid: time.Minute, IPv4: true, IPv6: true},
			timeout:  30 * time.Second,
			resolve: []UpstreamServer{{Name: "app.example", Host: "app.example", Port: 80, Service: "_sip._udp",
				Weight: 1, MaxFails: 1, FailTimeout: 10 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, tt.src+"\nserver { location / { proxy_pass http://u; } }")
			u := cfg.Upstreams[0]
			if u.Resolver == nil {
				t.Fatalf("no resolver")
			}
			got := *u.Resolver
			got.Pos = Pos{}
			if !reflect.DeepEqual(&got, tt.resolver) {
				t.Errorf("resolver\n got %+v\nwant %+v", got, *tt.resolver)
			}
			if u.ResolverTimeout != tt.timeout {
				t.Errorf("timeout %v, want %v", u.ResolverTimeout, tt.timeout)
			}
			var rs []UpstreamServer
			for _, s := range u.Resolve {
				one := *s
				one.Pos = Pos{}
				rs = append(rs, one)
			}
			if !reflect.DeepEqual(rs, tt.resolve) {
				t.Errorf("resolve\n got %+v\nwant %+v", rs, tt.resolve)
			}
			var addrs []string
			for _, s := range u.Servers {
				addrs = append(addrs, s.Addr)
			}
			if !reflect.DeepEqual(addrs, tt.servers) {
				t.Errorf("servers %q, want %q", addrs, tt.servers)
			}
		})
	}
}

// TestResolverUnused: a resolver nothing uses is reported as having no
// effect, at its own line; one that an upstream uses is not.
func TestResolverUnused(t *testing.T) {
	cfg := mustLoad(t, "server {\n resolver 127.0.0.1;\n location / {\n resolver_timeout 1s;\n return 200; } }\nresolver 127.0.0.53;")
	var got []string
	for _, ig := range cfg.Ignored {
		got = append(got, fmt.Sprintf("%s@%s+%d", ig.Name, ig.Pos.String()[len(cfg.File)+1:], ig.More))
	}
	// One entry per name, at its first line, counting the others.
	want := []string{"resolver@2+1", "resolver_timeout@4+0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ignored %q, want %q", got, want)
	}
	cfg = mustLoad(t, "resolver 127.0.0.53;\nupstream u { zone u; server a.example resolve; }\nserver { location / { proxy_pass http://u; } }")
	if len(cfg.Ignored) != 0 {
		t.Errorf("ignored %v", cfg.Ignored)
	}
}

// TestResolverStatusZone: NGINX Plus's status_zone= is accepted with a
// warning, since limpet keeps no resolver statistics.
func TestResolverStatusZone(t *testing.T) {
	cfg := mustLoad(t, "\nresolver 127.0.0.53 status_zone=dns;")
	want := `the "status_zone=dns" parameter of "resolver" has no effect in limpet (limpet keeps no statistics of its resolvers)`
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Msg != want || cfg.Warnings[0].Pos.Line != 2 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

// TestResolveErrors asserts nginx's messages for the resolver directives
// and resolve servers, in full. FILE is the configuration's path.
func TestResolveErrors(t *testing.T) {
	const ups = "server { location / { proxy_pass http://u; } }\n"
	tests := []struct {
		name, src, want string
	}{
		{"no zone", ups + "resolver 127.0.0.1;\nupstream u {\n server a.example resolve;\n}",
			`resolving names at run time requires upstream "u" in FILE:3 to be in shared memory`},
		{"no resolver", ups + "upstream u {\n zone u;\n server a.example resolve;\n}",
			`no resolver defined to resolve names at run time in upstream "u" in FILE:2`},
		{"resolver of a server does not count", ups + "server { resolver 127.0.0.1; }\nupstream u { zone u; server a.example resolve; }",
			`no resolver defined to resolve names at run time in upstream "u" in FILE:3`},
		{"zone checked first", ups + "upstream u { server a.example resolve; }",
			`resolving names at run time requires upstream "u" in FILE:2 to be in shared memory`},
		{"service without resolve", ups + "upstream u { zone u;\n server a.example service=http; }",
			`service upstream "a.example" requires "resolve" parameter in FILE:3`},
		{"service with port", ups + "upstream u { zone u;\n server a.example:80 resolve service=http; }",
			`service upstream "a.example:80" may not have port in FILE:3`},
		{"service of an address", ups + "upstream u { zone u;\n server 10.0.0.1 resolve service=http; }",
			`service upstream "10.0.0.1" requires domain name in FILE:3`},
		{"empty service", ups + "upstream u { zone u;\n server a.example resolve service=; }",
			`service is empty in FILE:3`},
		{"resolve with a value", ups + "upstream u { zone u;\n server a.example resolve=on; }",
			`invalid parameter "resolve=on" in FILE:3`},
		{"backup resolve with hash", ups + "resolver 127.0.0.1;\nupstream u { zone u; hash $uri;\n server a.example resolve backup; }",
			`invalid parameter "backup" in FILE:4`},
		{"duplicate resolver", "resolver 127.0.0.1;\nhttp {\n resolver 127.0.0.2; }",
			`"resolver" directive is duplicate in FILE:3`},
		{"duplicate resolver in upstream", ups + "upstream u { zone u; server 10.0.0.1;\n resolver 127.0.0.1;\n resolver 127.0.0.1; }",
			`"resolver" directive is duplicate in FILE:4`},
		{"duplicate resolver in location", "server { location / { resolver 127.0.0.1;\n resolver 127.0.0.1; } }",
			`"resolver" directive is duplicate in FILE:2`},
		{"bad valid", "resolver 127.0.0.1 valid=10ms;", `invalid parameter: valid=10ms in FILE:1`},
		{"bad ipv6", "resolver 127.0.0.1 ipv6=no;", `invalid parameter: ipv6=no in FILE:1`},
		{"ipv4 is lower case", "resolver 127.0.0.1 ipv4=OFF;", `invalid parameter: ipv4=OFF in FILE:1`},
		{"both families off", "resolver 127.0.0.1 ipv4=off ipv6=off;", `"ipv4" and "ipv6" cannot both be "off" in FILE:1`},
		{"no name servers", "resolver valid=30s;", `no name servers defined in FILE:1`},
		{"bad port", "resolver 127.0.0.1:99999;", `invalid port in resolver "127.0.0.1:99999" in FILE:1`},
		{"unknown host", "\nresolver dns.nowhere;", `host not found in resolver "dns.nowhere" in FILE:2`},
		{"bad timeout", "resolver_timeout soon;", `"resolver_timeout" directive invalid value in FILE:1`},
		{"duplicate timeout", "resolver_timeout 1s;\nresolver_timeout 2s;", `"resolver_timeout" directive is duplicate in FILE:2`},
		{"resolver in events", "events { resolver 127.0.0.1; }", `"resolver" directive is not allowed here in FILE:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
		})
	}
}
