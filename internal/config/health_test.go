package config

import (
	"reflect"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	cfg, path, err := load(t, `http {
    match ok {
        status 200;
        status ! 500 503;
        status 200-399 404;
        status ! 400-599;
        header Content-Type = text/html;
        header Content-Type != "text/plain";
        header Connection ~ close;
        header Server !~ "^apache";
        header Host;
        header ! X-Accel-Redirect;
        body ~ "Welcome to nginx!";
        body !~ "(?i)error";
    }
}
match empty { }
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Matches) != 2 {
		t.Fatalf("matches %v, want ok and empty", cfg.Matches)
	}
	empty := cfg.Matches["empty"]
	if !reflect.DeepEqual(empty, &Match{Name: "empty", Pos: Pos{File: path, Line: 17}}) {
		t.Errorf("empty match %+v", empty)
	}
	m := cfg.Matches["ok"]
	if m.Name != "ok" || m.Pos != (Pos{File: path, Line: 2}) {
		t.Errorf("match at %v named %q", m.Pos, m.Name)
	}
	wantStatus := []StatusMatch{
		{Ranges: []StatusRange{{200, 200}}},
		{Not: true, Ranges: []StatusRange{{500, 500}, {503, 503}}},
		{Ranges: []StatusRange{{200, 399}, {404, 404}}},
		{Not: true, Ranges: []StatusRange{{400, 599}}},
	}
	if !reflect.DeepEqual(m.Status, wantStatus) {
		t.Errorf("status %+v\nwant   %+v", m.Status, wantStatus)
	}
	type header struct{ name, op, value, re string }
	var gotHeaders []header
	for _, h := range m.Headers {
		re := ""
		if h.Regexp != nil {
			re = h.Regexp.String()
		}
		gotHeaders = append(gotHeaders, header{h.Name, h.Op, h.Value, re})
	}
	wantHeaders := []header{
		{"Content-Type", "=", "text/html", ""},
		{"Content-Type", "!=", "text/plain", ""},
		{"Connection", "~", "close", "close"},
		{"Server", "!~", "^apache", "^apache"},
		{"Host", "", "", ""},
		{"X-Accel-Redirect", "!", "", ""},
	}
	if !reflect.DeepEqual(gotHeaders, wantHeaders) {
		t.Errorf("headers %+v\nwant    %+v", gotHeaders, wantHeaders)
	}
	if len(m.Bodies) != 2 || m.Bodies[0].Not || !m.Bodies[1].Not {
		t.Fatalf("bodies %+v", m.Bodies)
	}
	regexTests := []struct {
		name  string
		match bool
		got   bool
	}{
		{"header regex is unanchored", true, m.Headers[2].Regexp.MatchString("keep-alive, close")},
		{"header regex is case-sensitive", false, m.Headers[3].Regexp.MatchString("Apache/2.4")},
		{"body regex", true, m.Bodies[0].Regexp.MatchString("<h1>Welcome to nginx!</h1>")},
		{"body regex with (?i)", true, m.Bodies[1].Regexp.MatchString("Internal ERROR")},
	}
	for _, rt := range regexTests {
		if rt.got != rt.match {
			t.Errorf("%s: matched %t", rt.name, rt.got)
		}
	}
}

func TestHealthChecks(t *testing.T) {
	cfg, path, err := load(t, `match early { status 200-299; }
upstream backend {
    zone backend 64k;
    server 10.0.0.1;
}
server {
    location / {
        health_check;
        health_check interval=10s jitter=500ms fails=3 passes=2 uri=/healthz?full=1 port=8081 match=early mandatory persistent;
        health_check match=late mandatory interval=1m30s;
        proxy_pass http://backend/;
    }
    location /other/ {
        proxy_pass http://later;
        health_check match=early;
    }
    location /none/ {
        proxy_pass http://backend;
    }
}
upstream later { server 10.0.0.2; }
match late { body ~ ok; }
`)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	early, late := cfg.Matches["early"], cfg.Matches["late"]
	if early == nil || late == nil {
		t.Fatalf("matches %v", cfg.Matches)
	}
	locs := cfg.Servers[0].Locations
	tests := []struct {
		name string
		got  []*HealthCheck
		want []*HealthCheck
	}{
		{"defaults, every parameter, match defined later", locs[0].HealthChecks, []*HealthCheck{
			{Pos: at(8), Interval: 5 * time.Second, Fails: 1, Passes: 1, URI: "/"},
			{Pos: at(9), Interval: 10 * time.Second, Jitter: 500 * time.Millisecond, Fails: 3, Passes: 2,
				URI: "/healthz?full=1", Port: 8081, Match: early, Mandatory: true, Persistent: true},
			{Pos: at(10), Interval: 90 * time.Second, Fails: 1, Passes: 1, URI: "/", Match: late, Mandatory: true},
		}},
		{"after proxy_pass to an upstream defined later", locs[1].HealthChecks, []*HealthCheck{
			{Pos: at(15), Interval: 5 * time.Second, Fails: 1, Passes: 1, URI: "/", Match: early},
		}},
		{"none", locs[2].HealthChecks, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				for _, hc := range tt.got {
					t.Logf("got %+v", *hc)
				}
				t.Errorf("want %d checks as listed", len(tt.want))
			}
		})
	}
	// Checks share the one Match of Config.Matches, not copies.
	if locs[0].HealthChecks[1].Match != early || locs[1].HealthChecks[0].Match != early {
		t.Error("health checks do not point at Config.Matches")
	}
}
