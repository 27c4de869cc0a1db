package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// TestFormatAttempts checks the log's upstream fields, as nginx's
// $upstream_addr and $upstream_status write them.
func TestFormatAttempts(t *testing.T) {
	a, b := &upstream.Server{Addr: "10.0.0.1:80"}, &upstream.Server{Addr: "10.0.0.2:80"}
	tests := []struct {
		name          string
		records       []attemptRecord
		addrs, status string
	}{
		{"none", nil, "", ""},
		{"one", []attemptRecord{{server: a, status: 200}}, "10.0.0.1:80", "200"},
		{"one without an answer", []attemptRecord{{server: a}}, "10.0.0.1:80", "-"},
		{"an odd code", []attemptRecord{{server: a, status: 799}}, "10.0.0.1:80", "799"},
		{"a retry", []attemptRecord{{server: a, status: 502}, {server: b, status: 200}}, "10.0.0.1:80, 10.0.0.2:80", "502, 200"},
		{"beyond the array", []attemptRecord{{server: a, status: 502}, {server: b}, {server: a, status: 504}, {server: b, status: 502}, {server: a, status: 201}},
			"10.0.0.1:80, 10.0.0.2:80, 10.0.0.1:80, 10.0.0.2:80, 10.0.0.1:80", "502, -, 504, 502, 201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &exchange{tries: len(tt.records)}
			for i, r := range tt.records {
				if i < len(x.attempts) {
					x.attempts[i] = r
				} else {
					x.moreAttempts = append(x.moreAttempts, r)
				}
			}
			addrs, status := x.formatAttempts()
			if addrs != tt.addrs || status != tt.status {
				t.Errorf("formatAttempts() = %q, %q; want %q, %q", addrs, status, tt.addrs, tt.status)
			}
		})
	}
}

// Every balancing method passes over a server at its max_conns, through
// the one skip predicate, and takes it again once a slot frees.
func TestSkipFullServer(t *testing.T) {
	seq := 0
	rnd := func(n int) int { seq++; return seq % n }
	methods := []struct {
		name string
		new  func([]*upstream.Server) balance.Balancer
	}{
		{"round_robin", func(s []*upstream.Server) balance.Balancer { return balance.NewRoundRobin(s) }},
		{"least_conn", func(s []*upstream.Server) balance.Balancer { return balance.NewLeastConn(s) }},
		{"ip_hash", func(s []*upstream.Server) balance.Balancer { return balance.NewIPHash(s) }},
		{"hash", func(s []*upstream.Server) balance.Balancer { return balance.NewHash(s, false) }},
		{"hash consistent", func(s []*upstream.Server) balance.Balancer { return balance.NewHash(s, true) }},
		{"random", func(s []*upstream.Server) balance.Balancer { return balance.NewRandom(s, false, rnd) }},
		{"random two", func(s []*upstream.Server) balance.Balancer { return balance.NewRandom(s, true, rnd) }},
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			full := &upstream.Server{ID: "a", Addr: "10.0.0.1:80", Weight: 1, MaxConns: 2}
			free := &upstream.Server{ID: "b", Addr: "10.0.0.2:80", Weight: 1, MaxConns: 2}
			b := m.new([]*upstream.Server{full, free})
			full.Begin()
			full.Begin()
			a := &attempt{now: time.Now()}
			req := &balance.Request{ClientIP: netip.MustParseAddr("192.0.2.1"), Key: "/k"}
			for i := range 20 {
				if got := b.Pick(req, a.skip); got != free {
					t.Fatalf("pick %d: %v, want the server below its max_conns", i, got)
				}
			}
			free.Begin()
			free.Begin()
			if got := b.Pick(req, a.skip); got != nil {
				t.Fatalf("both servers full: picked %v, want none", got)
			}
			full.End()
			if got := b.Pick(req, a.skip); got != full {
				t.Fatalf("a slot freed: picked %v, want it", got)
			}
		})
	}
}
