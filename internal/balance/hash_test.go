package balance

import (
	"fmt"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// TestHashNginxGolden compares with what nginx 1.22.1 chose for `hash
// $arg_k` and `hash $arg_k consistent` over `server 127.0.0.1:18001;
// server 127.0.0.1:18002 weight=2; server [::1]:18003; server
// 127.0.0.1:18004;` (the generic hash with 127.0.0.1:18003 instead of
// [::1]:18003, which it does not look at), and for the same upstreams with
// the second server marked down. The IPv6 name shows that the ring keeps
// the brackets in the host, as nginx does.
func TestHashNginxGolden(t *testing.T) {
	servers := func(v6 bool) []*upstream.Server {
		names := []string{"127.0.0.1:18001", "127.0.0.1:18002", "127.0.0.1:18003", "127.0.0.1:18004"}
		if v6 {
			names[2] = "[::1]:18003"
		}
		ss := make([]*upstream.Server, len(names))
		for i, n := range names {
			ss[i] = &upstream.Server{Name: n, Addr: n, Weight: 1}
		}
		ss[1].Weight = 2
		return ss
	}
	for _, tc := range []struct {
		key                                    string
		hash, hashDown, consistent, consisDown int
	}{
		{"379u26192", 3, 3, 2, 2},
		{"42qpr75pr2e", 2, 2, 2, 2},
		{"prvu8fijoyjne00v830", 2, 2, 0, 0},
		{"n0yb", 3, 3, 3, 3},
		{"muh8lmn4", 3, 3, 1, 3},
		{"7sgmsoxlta8ircd9si", 0, 0, 3, 3},
		{"0je4qvzfv8", 0, 0, 0, 0},
		{"q4svh3ejoz9", 1, 0, 3, 3},
		{"fzaq8h3xqyxgo4b9uoe3t0hi", 3, 3, 0, 0},
		{"ct5", 2, 2, 0, 0},
		{"gp8iy3x8", 0, 0, 1, 0},
		{"pi/ne9nnovjarji8qlhbia", 3, 3, 1, 2},
		{"publqdi07he42x6g26oc7t3", 3, 3, 2, 2},
		{"d4", 3, 3, 1, 0},
		{"1dstwg/6nj4ogw9xhr/o199", 1, 0, 1, 3},
		{"rb", 0, 0, 2, 2},
		{"rtvwalj/zejb", 1, 2, 3, 3},
		{"7ny03v", 1, 2, 1, 0},
		{"foo", 1, 2, 1, 0},
		{"bar", 2, 2, 0, 0},
		{"user42", 1, 3, 0, 0},
		{"/index.html", 0, 0, 0, 0},
	} {
		t.Run(tc.key, func(t *testing.T) {
			req := &Request{Key: tc.key}
			for _, c := range []struct {
				consistent     bool
				want, wantDown int
			}{{false, tc.hash, tc.hashDown}, {true, tc.consistent, tc.consisDown}} {
				ss := servers(c.consistent)
				h := NewHash(ss, c.consistent)
				if got := indexOf(ss, h.Pick(req, skipDown)); got != c.want {
					t.Errorf("consistent=%v: server %d, nginx chose %d", c.consistent, got, c.want)
				}
				ss[1].SetDown(true)
				if got := indexOf(ss, h.Pick(req, skipDown)); got != c.wantDown {
					t.Errorf("consistent=%v, second down: server %d, nginx chose %d", c.consistent, got, c.wantDown)
				}
			}
		})
	}
}

// TestHashGenericByHand follows nginx's generic hash for "foo" by hand:
// crc32("foo") = 0x8c736521, (0x8c736521 >> 16) & 0x7fff = 3187, and
// 3187 % 5 = 2 lands on the weight-2 second server (draws 1 and 2).
func TestHashGenericByHand(t *testing.T) {
	if c := crc32.ChecksumIEEE([]byte("foo")); c != 0x8c736521 {
		t.Fatalf("crc32(foo) = %#x", c)
	}
	ss := newServers(1, 2, 1, 1)
	if got := indexOf(ss, NewHash(ss, false).Pick(&Request{Key: "foo"}, nil)); got != 1 {
		t.Errorf("server %d, want 1", got)
	}
}

func TestHashSameKeySameServer(t *testing.T) {
	for _, consistent := range []bool{false, true} {
		t.Run(fmt.Sprint("consistent=", consistent), func(t *testing.T) {
			ss := newServers(1, 2, 3, 1, 1)
			h := NewHash(ss, consistent)
			for i := range 200 {
				req := &Request{Key: fmt.Sprintf("/item/%d", i)}
				first := h.Pick(req, nil)
				for range 5 {
					if got := h.Pick(req, nil); got != first {
						t.Fatalf("key %q: %s then %s", req.Key, first.Name, got.Name)
					}
				}
				// A second balancer over the same servers agrees: the
				// mapping depends on nothing but the configuration.
				if got := NewHash(ss, consistent).Pick(req, nil); got != first {
					t.Fatalf("key %q: %s from a new balancer, %s before", req.Key, got.Name, first.Name)
				}
			}
		})
	}
}

// remap maps every key with a balancer over servers and another over
// changed, and returns the first mapping, the second and how many keys
// moved, the servers being compared by name.
func remap(t *testing.T, keys []string, consistent bool, servers, changed []*upstream.Server) (before, after []string, moved int) {
	t.Helper()
	b1, b2 := NewHash(servers, consistent), NewHash(changed, consistent)
	for _, k := range keys {
		s1, s2 := b1.Pick(&Request{Key: k}, nil), b2.Pick(&Request{Key: k}, nil)
		before, after = append(before, s1.Name), append(after, s2.Name)
		if s1.Name != s2.Name {
			moved++
		}
	}
	return before, after, moved
}

// TestHashConsistency checks what `consistent` buys: with 10 servers and
// 10,000 keys, removing a server moves only its own keys (about 1/10 of
// all), adding one moves about 1/11 of them, all to the new server; the
// generic hash moves most keys either way.
func TestHashConsistency(t *testing.T) {
	const n, nkeys = 10, 10_000
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("session-%d", i)
	}
	servers := newServers(slices.Repeat([]int{1}, n+1)...)
	ten, eleven := servers[:n], servers
	const victim = 3
	without := slices.Delete(slices.Clone(ten), victim, victim+1)
	victimName := ten[victim].Name
	newName := eleven[n].Name

	t.Run("consistent remove", func(t *testing.T) {
		before, after, moved := remap(t, keys, true, ten, without)
		onVictim := 0
		for i := range keys {
			if before[i] == victimName {
				onVictim++
			} else if after[i] != before[i] {
				t.Fatalf("key %q moved from %s to %s though its server stayed", keys[i], before[i], after[i])
			}
		}
		if moved != onVictim {
			t.Errorf("%d keys moved, want exactly the %d on the removed server", moved, onVictim)
		}
		if f := float64(moved) / nkeys; f < 0.05 || f > 0.15 {
			t.Errorf("%.3f of keys moved, want about 1/%d", f, n)
		}
	})
	t.Run("consistent add", func(t *testing.T) {
		_, after, moved := remap(t, keys, true, ten, eleven)
		onNew := 0
		for i := range keys {
			if after[i] == newName {
				onNew++
			}
		}
		if moved != onNew {
			t.Errorf("%d keys moved, want exactly the %d now on the new server", moved, onNew)
		}
		if f := float64(moved) / nkeys; f < 0.045 || f > 0.14 {
			t.Errorf("%.3f of keys moved, want about 1/%d", f, n+1)
		}
	})
	t.Run("generic for contrast", func(t *testing.T) {
		for _, changed := range [][]*upstream.Server{without, eleven} {
			if _, _, moved := remap(t, keys, false, ten, changed); float64(moved)/nkeys < 0.5 {
				t.Errorf("generic hash moved only %d of %d keys going to %d servers; expected most", moved, nkeys, len(changed))
			}
		}
	})
	// Skipping a server walks the ring past its points, which is what
	// removing it does: the same keys go to the same servers.
	t.Run("consistent skip equals remove", func(t *testing.T) {
		h, hw := NewHash(ten, true), NewHash(without, true)
		skip := func(s *upstream.Server) bool { return s.Name == victimName }
		for _, k := range keys {
			if got, want := h.Pick(&Request{Key: k}, skip), hw.Pick(&Request{Key: k}, nil); got.Name != want.Name {
				t.Fatalf("key %q: %s with the server skipped, %s with it removed", k, got.Name, want.Name)
			}
		}
	})
}

// TestHashConsistentWeights checks that a server's share of the ring, and
// so of the keys, follows its weight.
func TestHashConsistentWeights(t *testing.T) {
	ss := newServers(1, 2, 4, 1)
	h := NewHash(ss, true)
	c := make([]int, len(ss))
	const nkeys = 16_000
	for i := range nkeys {
		c[indexOf(ss, h.Pick(&Request{Key: fmt.Sprint("k", i)}, nil))]++
	}
	for i, w := range []float64{1, 2, 4, 1} {
		want := nkeys * w / 8
		if f := float64(c[i]); f < want*0.8 || f > want*1.2 {
			t.Errorf("server %d (weight %v): %d keys, want %.0f±20%% (%v)", i, w, c[i], want, c)
		}
	}
	if got, want := len(h.points), 160*8; got > want || got < want-5 {
		t.Errorf("ring has %d points, want %d less any collisions", got, want)
	}
}

// TestHashConsistentSharedName checks nginx's handling of a name that
// resolved to several addresses: it is one node of the ring, and its keys
// are shared among its addresses by round-robin.
func TestHashConsistentSharedName(t *testing.T) {
	mk := func(name, addr string) *upstream.Server {
		return &upstream.Server{Name: name, Addr: addr, Weight: 1}
	}
	ss := []*upstream.Server{
		mk("app.internal:80", "192.0.2.1:80"),
		mk("app.internal:80", "192.0.2.2:80"),
		mk("db.internal:80", "192.0.2.3:80"),
	}
	h := NewHash(ss, true)
	if len(h.groups) != 2 {
		t.Fatalf("%d ring nodes, want 2", len(h.groups))
	}
	// A key on app.internal alternates between its two addresses.
	var key string
	for i := 0; key == ""; i++ {
		if k := fmt.Sprint("k", i); h.Pick(&Request{Key: k}, nil).Name == "app.internal:80" {
			key = k
		}
	}
	if got := letters(ss, pickN(h, &Request{Key: key}, nil, 4)); got != "baba" && got != "abab" {
		t.Errorf("picks for %q = %s, want the two addresses in turn", key, got)
	}
	// With one address down the other takes every such key.
	ss[0].SetDown(true)
	if got := letters(ss, pickN(h, &Request{Key: key}, skipDown, 3)); got != "bbb" {
		t.Errorf("picks with the first address down = %s, want bbb", got)
	}
}

// TestHashNameFallsBackToAddr checks that a server without a recorded
// name is placed on the ring by its address.
func TestHashNameFallsBackToAddr(t *testing.T) {
	named := newServers(1, 1, 1)
	bare := newServers(1, 1, 1)
	for _, s := range bare {
		s.Name = ""
	}
	a, b := NewHash(named, true), NewHash(bare, true)
	if !slices.Equal(a.points, b.points) {
		t.Error("rings differ between Name and Addr of the same text")
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct{ name, host, port string }{
		{"app-01.internal:80", "app-01.internal", "80"},
		{"10.0.0.1:8080", "10.0.0.1", "8080"},
		{"[2001:db8::1]:443", "[2001:db8::1]", "443"}, // nginx keeps the brackets
		{"app-01.internal", "app-01.internal", ""},
		{"unix:/run/app.sock", "/run/app.sock", ""},
		{"UNIX:/run/app.sock", "/run/app.sock", ""},
		{"host:", "host", ""},
		{"a:b", "a:b", ""}, // what follows the last ':' is not a port
		{"", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if host, port := splitHostPort(tc.name); host != tc.host || port != tc.port {
				t.Errorf("splitHostPort(%q) = %q, %q; want %q, %q", tc.name, host, port, tc.host, tc.port)
			}
		})
	}
}

// TestHashRoundRobinFallback checks the cases nginx serves by round-robin:
// an empty key, and a hash that keeps landing on unusable servers.
func TestHashRoundRobinFallback(t *testing.T) {
	for _, consistent := range []bool{false, true} {
		t.Run(fmt.Sprint("consistent=", consistent), func(t *testing.T) {
			ss := newServers(1, 1, 1)
			if got := letters(ss, pickN(NewHash(ss, consistent), &Request{}, nil, 6)); got != "abcabc" {
				t.Errorf("empty key: picks %s, want round-robin abcabc", got)
			}
			heavy := newServers(1000, 1)
			heavy[0].SetDown(true)
			if got := letters(heavy, pickN(NewHash(heavy, consistent), &Request{Key: "x"}, skipDown, 2)); got != "bb" {
				t.Errorf("heavy server down: picks %s, want bb", got)
			}
		})
	}
}
