package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/discovery/dnstest"
	"github.com/miekg/dns"
)

func startDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	s, err := dnstest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// addrStrings renders an answer's addresses for comparison.
func addrStrings(ans Answer) []string {
	var out []string
	for _, a := range ans.Addrs {
		s := a.IP.String()
		if a.Target != "" {
			s = fmt.Sprintf("%s %s:%d w=%d p=%d", a.Target, a.IP, a.Port, a.Weight, a.Priority)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestLookup asks a real DNS server on loopback, over UDP (and TCP when
// the answer does not fit), for what a resolve line asks.
func TestLookup(t *testing.T) {
	d := startDNS(t)
	d.SetA("app.test", 30, "127.0.0.2", "127.0.0.3", "::1")
	d.SetA("short.test", 3, "127.0.0.4")
	d.SetCNAME("alias.test", 5, "short.test")
	d.SetSRV("_http._tcp.svc.test", 60,
		dnstest.SRV{Priority: 10, Weight: 5, Port: 8081, Target: "a.svc.test"},
		dnstest.SRV{Priority: 10, Weight: 0, Port: 8082, Target: "b.svc.test"},
		dnstest.SRV{Priority: 20, Weight: 1, Port: 8083, Target: "c.svc.test"},
		dnstest.SRV{Priority: 10, Weight: 1, Port: 8084, Target: "gone.svc.test"},
		dnstest.SRV{Priority: 0, Weight: 0, Port: 0, Target: "."})
	d.SetA("a.svc.test", 20, "127.0.0.5")
	d.SetA("b.svc.test", 40, "127.0.0.6")
	d.SetA("c.svc.test", 40, "127.0.0.7")
	d.SetA("typeonly.test", 30, "::2")
	var many []string
	for i := 1; i <= 60; i++ {
		many = append(many, fmt.Sprintf("127.0.1.%d", i))
	}
	d.SetA("many.test", 30, many...)

	tests := []struct {
		name   string
		cfg    Config
		srv    bool
		lookup string
		want   []string
		ttl    time.Duration
		code   int // of the error, 0 for none
	}{
		{name: "A and AAAA", lookup: "app.test", want: []string{"127.0.0.2", "127.0.0.3", "::1"}, ttl: 30 * time.Second},
		{name: "ipv6=off", cfg: Config{IPv4: true}, lookup: "app.test", want: []string{"127.0.0.2", "127.0.0.3"}, ttl: 30 * time.Second},
		{name: "ipv4=off", cfg: Config{IPv6: true}, lookup: "app.test", want: []string{"::1"}, ttl: 30 * time.Second},
		{name: "valid= overrides the TTL", cfg: Config{Valid: time.Minute}, lookup: "short.test", want: []string{"127.0.0.4"}, ttl: time.Minute},
		{name: "CNAME followed, shortest TTL of the chain", lookup: "alias.test", want: []string{"127.0.0.4"}, ttl: 3 * time.Second},
		{name: "case does not matter", lookup: "APP.Test.", want: []string{"127.0.0.2", "127.0.0.3", "::1"}, ttl: 30 * time.Second},
		{name: "NXDOMAIN", lookup: "nowhere.test", code: CodeNotFound, ttl: 10 * time.Second},
		{name: "NXDOMAIN with valid=", cfg: Config{Valid: 3 * time.Second}, lookup: "nowhere.test", code: CodeNotFound, ttl: 3 * time.Second},
		{name: "no record of the family asked", cfg: Config{IPv4: true}, lookup: "typeonly.test", code: CodeNotFound, ttl: 10 * time.Second},
		{name: "truncated over UDP, asked over TCP", lookup: "many.test", want: sorted(many), ttl: 30 * time.Second},
		{name: "SRV", srv: true, lookup: "_http._tcp.svc.test", ttl: 20 * time.Second, want: []string{
			"a.svc.test 127.0.0.5:8081 w=5 p=10",
			"b.svc.test 127.0.0.6:8082 w=1 p=10",
			"c.svc.test 127.0.0.7:8083 w=1 p=20",
		}},
		{name: "SRV NXDOMAIN", srv: true, lookup: "_http._tcp.none.test", code: CodeNotFound, ttl: 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Servers = []string{d.Addr}
			tt.cfg.Timeout = 5 * time.Second
			r := NewResolver(tt.cfg)
			var ans Answer
			var err error
			if tt.srv {
				ans, err = r.LookupSRV(context.Background(), tt.lookup)
			} else {
				ans, err = r.LookupHost(context.Background(), tt.lookup)
			}
			var le *LookupError
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("error %v", err)
			case tt.code != 0 && (!errors.As(err, &le) || le.Code != tt.code):
				t.Fatalf("error %v, want code %d", err, tt.code)
			}
			if got := addrStrings(ans); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("addresses\n got %q\nwant %q", got, tt.want)
			}
			if ans.TTL != tt.ttl {
				t.Errorf("TTL %v, want %v", ans.TTL, tt.ttl)
			}
		})
	}
	if _, tcp := d.Queries(); tcp == 0 {
		t.Errorf("no query came over TCP")
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestLookupFailures: the failures a lookup can meet, in nginx's words,
// and the next name server asked when one fails.
func TestLookupFailures(t *testing.T) {
	good := startDNS(t)
	good.SetA("app.test", 30, "127.0.0.2")
	failing := startDNS(t)
	failing.Fail(dns.RcodeServerFailure)
	refusing := startDNS(t)
	refusing.Fail(dns.RcodeRefused)
	silent := startDNS(t)
	silent.Silence(true)
	closed := closedUDPPort(t)

	tests := []struct {
		name    string
		servers []string
		timeout time.Duration
		want    string // error, "" for an answer
	}{
		{"SERVFAIL", []string{failing.Addr}, 5 * time.Second, "app.test could not be resolved (2: Server failure)"},
		{"REFUSED", []string{refusing.Addr}, 5 * time.Second, "app.test could not be resolved (5: Operation refused)"},
		{"no answer within resolver_timeout", []string{silent.Addr}, 200 * time.Millisecond, "app.test could not be resolved (110: Operation timed out)"},
		{"port closed", []string{closed}, 5 * time.Second, "app.test could not be resolved (110: Operation timed out)"},
		{"failing server, then a good one", []string{failing.Addr, good.Addr}, 5 * time.Second, ""},
		{"closed port, then a good one", []string{closed, good.Addr}, 5 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each name server must be the first asked once: the
			// resolver rotates its starting server.
			r := NewResolver(Config{Servers: tt.servers, Timeout: tt.timeout})
			for range len(tt.servers) {
				ans, err := r.LookupHost(context.Background(), "app.test")
				if tt.want == "" {
					if err != nil || len(ans.Addrs) != 1 {
						t.Fatalf("answer %v, error %v", ans, err)
					}
					continue
				}
				if err == nil || err.Error() != tt.want {
					t.Fatalf("error %v, want %s", err, tt.want)
				}
				if NotFound(err) {
					t.Errorf("%v reads as not found", err)
				}
			}
		})
	}
}

// closedUDPPort returns a loopback UDP address nothing listens on.
func closedUDPPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	return addr
}

// TestLookupCancelled: cancelling the context ends a lookup waiting on a
// silent server at once, long before its timeout.
func TestLookupCancelled(t *testing.T) {
	silent := startDNS(t)
	silent.Silence(true)
	r := NewResolver(Config{Servers: []string{silent.Addr}, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := r.LookupHost(ctx, "app.test")
		done <- err
	}()
	// Wait until the query has reached the server, then cancel.
	select {
	case <-silent.Queried():
	case err := <-done:
		t.Fatalf("lookup ended before it was cancelled: %v", err)
	}
	cancel()
	if err := <-done; err == nil || NotFound(err) {
		t.Fatalf("error %v", err)
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct{ service, host, want string }{
		{"http", "example.test", "_http._tcp.example.test"},
		{"_http._tcp", "example.test", "_http._tcp.example.test"},
		{"_sip._udp", "example.test.", "_sip._udp.example.test"},
		// No dot: nginx adds "_" and "._tcp" even to a leading "_".
		{"_http", "example.test", "__http._tcp.example.test"},
	}
	for _, tt := range tests {
		if got := ServiceName(tt.service, tt.host); got != tt.want {
			t.Errorf("ServiceName(%q, %q) = %q, want %q", tt.service, tt.host, got, tt.want)
		}
	}
}
