package balance

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestIPHashNginxGolden compares with what nginx 1.22.1 chose for
// `ip_hash; server A; server B weight=2; server C; server D;`, the client
// address set through the realip module, and for the same upstream with
// B marked down.
func TestIPHashNginxGolden(t *testing.T) {
	for _, tc := range []struct {
		ip       string
		want     int // server index with all up
		wantDown int // with server 1 (B) down
	}{
		{"163.177.121.157", 3, 3},
		{"28.128.49.127", 1, 0},
		{"6.103.26.209", 0, 0},
		{"189.214.64.251", 3, 3},
		{"70.104.82.87", 0, 0},
		{"62.177.59.144", 3, 3},
		{"57.36.86.222", 1, 0},
		{"35.184.193.233", 1, 2},
		{"188.137.96.169", 3, 3},
		{"26.61.31.167", 3, 3},
		{"173.60.45.109", 3, 3},
		{"189.156.102.179", 3, 3},
		{"5f98:7c71:a65e:688e:abf3:ad39:fec2:1bbe", 3, 3},
		{"7394:988f:847f:d9b4:e64d:1bcb:7027:53a1", 2, 2},
		{"1064:5c:3985:c3cf:3f76:be1d:1efa:2197", 1, 2},
		{"8dcd:cd03:969b:6662:562:8059:568c:c69b", 3, 3},
		{"1d7:4256:3860:2ab6:96a4:2f2:3ae8:cc93", 3, 3},
		{"f12:59e0:a18f:f6b6:b535:106e:122c:9a56", 3, 3},
		{"192.168.1.7", 3, 3},
		{"10.0.0.1", 0, 0},
		{"::ffff:10.0.0.1", 0, 0},
		{"2001:db8::1", 0, 0},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			ss := newServers(1, 2, 1, 1)
			h := NewIPHash(ss)
			req := &Request{ClientIP: netip.MustParseAddr(tc.ip)}
			if got := indexOf(ss, h.Pick(req, skipDown)); got != tc.want {
				t.Errorf("all up: server %d, nginx chose %d", got, tc.want)
			}
			ss[1].SetDown(true)
			if got := indexOf(ss, h.Pick(req, skipDown)); got != tc.wantDown {
				t.Errorf("B down: server %d, nginx chose %d", got, tc.wantDown)
			}
		})
	}
}

// TestIPHashRound checks the hash against values worked out by hand from
// nginx's formula hash = (hash*113 + octet) % 6271, starting at 89.
func TestIPHashRound(t *testing.T) {
	for _, tc := range []struct {
		name string
		from int64
		addr []byte
		want int64
	}{
		// 89*113+192 = 10249 → 3978; 3978*113+168 = 449682 → 4441;
		// 4441*113+1 = 501834 → 154.
		{"192.168.1 first round", 89, []byte{192, 168, 1}, 154},
		// 154*113+192 = 17594 → 5052; 5052*113+168 = 571044 → 383;
		// 383*113+1 = 43280 → 5654.
		{"192.168.1 second round", 154, []byte{192, 168, 1}, 5654},
		// 89*113+10 = 10067 → 3796; 3796*113 = 428948 → 2520;
		// 2520*113 = 284760 → 2565.
		{"10.0.0", 89, []byte{10, 0, 0}, 2565},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ipHashRound(tc.from, tc.addr); got != tc.want {
				t.Errorf("ipHashRound(%d, %v) = %d, want %d", tc.from, tc.addr, got, tc.want)
			}
		})
	}
	// With weights 1,2,1,1 (total 5), 154 % 5 = 4 lands on the last
	// server, as nginx chose for 192.168.1.7 above.
	if got := walk([]int64{1, 2, 1, 1}, 154%5); got != 3 {
		t.Errorf("walk = %d, want 3", got)
	}
}

func TestIPHashSameSubnet(t *testing.T) {
	ss := newServers(1, 1, 1, 1, 1)
	h := NewIPHash(ss)
	for _, subnet := range []string{"203.0.113", "198.51.100", "10.1.2"} {
		first := h.Pick(&Request{ClientIP: netip.MustParseAddr(subnet + ".0")}, nil)
		for x := 1; x < 256; x++ {
			ip := netip.MustParseAddr(fmt.Sprintf("%s.%d", subnet, x))
			if got := h.Pick(&Request{ClientIP: ip}, nil); got != first {
				t.Fatalf("%s: %s, but %s.0 went to %s", ip, got.Name, subnet, first.Name)
			}
		}
		// The IPv4-mapped IPv6 form is the same client.
		mapped := netip.MustParseAddr("::ffff:" + subnet + ".9")
		if got := h.Pick(&Request{ClientIP: mapped}, nil); got != first {
			t.Errorf("%s: %s, want %s as for %s.9", mapped, got.Name, first.Name, subnet)
		}
	}
}

func TestIPHashSpread(t *testing.T) {
	ss := newServers(1, 1, 1, 1)
	h := NewIPHash(ss)
	rnd := seeded(3)
	const subnets = 2000
	c := make([]int, len(ss))
	for range subnets {
		ip := netip.AddrFrom4([4]byte{byte(rnd(256)), byte(rnd(256)), byte(rnd(256)), 1})
		c[indexOf(ss, h.Pick(&Request{ClientIP: ip}, nil))]++
	}
	// nginx's hash is not a good one (a modulus of 6271 and only 3
	// bytes), so the check is only that no server is starved or flooded.
	for i, n := range c {
		if n < subnets/4*3/4 || n > subnets/4*5/4 {
			t.Errorf("server %d got %d of %d subnets, want %d±25%% (%v)", i, n, subnets, subnets/4, c)
		}
	}
}

// TestIPHashIPv6 checks that IPv6 clients hash on all 16 bytes, so
// addresses within one /64 (or /120) may go to different servers.
func TestIPHashIPv6(t *testing.T) {
	ss := newServers(1, 1, 1, 1)
	h := NewIPHash(ss)
	seen := map[int]bool{}
	for x := range 64 {
		ip := netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", x))
		seen[indexOf(ss, h.Pick(&Request{ClientIP: ip}, nil))] = true
	}
	if len(seen) < 2 {
		t.Errorf("64 addresses differing in the last byte all went to one server: %v", seen)
	}
}

// TestIPHashDownServer checks nginx's promise for `down`: the down
// server's clients move to the others, and nobody else moves.
func TestIPHashDownServer(t *testing.T) {
	ss := newServers(1, 2, 1, 1, 3)
	h := NewIPHash(ss)
	var ips []netip.Addr
	for a := range 50 {
		for b := range 20 {
			ips = append(ips, netip.AddrFrom4([4]byte{byte(20 + a), byte(b * 11), byte(a * b), 5}))
		}
	}
	before := make([]int, len(ips))
	for i, ip := range ips {
		before[i] = indexOf(ss, h.Pick(&Request{ClientIP: ip}, skipDown))
	}
	ss[1].SetDown(true)
	moved := 0
	for i, ip := range ips {
		after := indexOf(ss, h.Pick(&Request{ClientIP: ip}, skipDown))
		switch {
		case after == 1:
			t.Fatalf("%s still sent to the down server", ip)
		case before[i] != 1 && after != before[i]:
			t.Fatalf("%s moved from %d to %d though its server is up", ip, before[i], after)
		case before[i] == 1:
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no client was on server 1; the test proves nothing")
	}
}

// TestIPHashRoundRobinFallback checks the cases nginx serves by
// round-robin: no client address, and a single server.
func TestIPHashRoundRobinFallback(t *testing.T) {
	ss := newServers(1, 1, 1)
	for _, req := range []*Request{nil, {}, {ClientIP: netip.Addr{}}} {
		if got := letters(ss, pickN(NewIPHash(ss), req, nil, 6)); got != "abcabc" {
			t.Errorf("request %+v: picks %s, want round-robin abcabc", req, got)
		}
	}
	one := newServers(1)
	req := &Request{ClientIP: netip.MustParseAddr("192.0.2.1")}
	if got := NewIPHash(one).Pick(req, nil); got != one[0] {
		t.Errorf("single server: Pick = %v, want it", got)
	}
	// Every hash lands on a down server: after 21 tries round-robin
	// finds the live one.
	ss = newServers(100, 1)
	ss[0].SetDown(true)
	if got := letters(ss, pickN(NewIPHash(ss), req, skipDown, 2)); got != "bb" {
		t.Errorf("heavy server down: picks %s, want bb", got)
	}
}
