package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/limpet-lb/limpet/internal/config"
)

// listenBacklog asks the kernel (sock_diag over netlink, what ss(8)
// reads) for the backlog of the TCP socket listening on addr: for a
// listening socket, inet_diag_msg's wqueue is sk_max_ack_backlog.
func listenBacklog(t *testing.T, addr net.Addr) int {
	t.Helper()
	ta := addr.(*net.TCPAddr)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		t.Fatalf("netlink socket: %v", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	// nlmsghdr (16 bytes), then inet_diag_req_v2: family, protocol,
	// ext, pad, states, and a 48-byte inet_diag_sockid left zero (a dump
	// of every listening TCP socket of the family).
	req := make([]byte, 16+56)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1)
	req[16] = unix.AF_INET
	if ta.IP.To4() == nil {
		req[16] = unix.AF_INET6
	}
	req[17] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[20:], 1<<10) // TCP_LISTEN
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatalf("netlink send: %v", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("netlink receive: %v", err)
		}
		for b := buf[:n]; len(b) >= 16; {
			size := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			if size < 16 || size > len(b) {
				t.Fatalf("netlink: bad message length %d", size)
			}
			switch typ {
			case unix.NLMSG_DONE:
				t.Fatalf("no listening socket on %s", addr)
			case unix.NLMSG_ERROR:
				t.Fatalf("netlink: error message")
			}
			// inet_diag_msg: family, state, timer, retrans, then the
			// sockid (sport and dport big-endian, src, dst, ...),
			// then expires, rqueue, wqueue.
			m := b[16:size]
			src := net.IP(m[8:24])
			if m[0] == unix.AF_INET {
				src = net.IP(m[8:12])
			}
			if int(binary.BigEndian.Uint16(m[4:])) == ta.Port && src.Equal(ta.IP) {
				return int(binary.NativeEndian.Uint32(m[60:]))
			}
			b = b[(size+3)&^3:]
		}
	}
}

// sysctl reads an integer from /proc/sys.
func sysctl(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestListenBacklog: the listen queue is backlog=N, or nginx's 511
// without it, capped by the kernel at net.core.somaxconn.
func TestListenBacklog(t *testing.T) {
	somaxconn := sysctl(t, "net.core.somaxconn")
	tests := []struct {
		param string
		want  int
	}{
		{"", 511},
		{"backlog=7", 7},
		{"backlog=1000", 1000},
		{"backlog=1000000000", somaxconn},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			lb := startLimpet(t, "server { listen 127.0.0.1:0 "+tt.param+"; access_log off; location / { return 200 ok; } }")
			if got, want := listenBacklog(t, lb.rt.Addrs()[0]), min(tt.want, somaxconn); got != want {
				t.Errorf("backlog %d, want %d", got, want)
			}
		})
	}
}

// TestReusePort: with reuseport, a second limpet binds the address the
// first listens on and serves it when the first is gone; without, the
// bind fails in nginx's words.
func TestReusePort(t *testing.T) {
	conf := "server { listen 127.0.0.1:%s %s; access_log off; location / { return 200 %s; } }"
	first := startLimpet(t, fmt.Sprintf(conf, "0", "reuseport", "first"))
	_, port, _ := net.SplitHostPort(first.rt.Addrs()[0].String())

	_, err := tryStartLimpet(t, fmt.Sprintf(conf, port, "", "plain"))
	want := "bind() to 127.0.0.1:" + port + " failed (98: Address already in use)"
	if err == nil || err.Error() != want {
		t.Errorf("without reuseport: error %v, want %q", err, want)
	}

	second, err := tryStartLimpet(t, fmt.Sprintf(conf, port, "reuseport", "second"))
	if err != nil {
		t.Fatalf("with reuseport: %v", err)
	}
	if err := first.rt.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if _, body := get(t, c, second.url+"/"); body != "second" {
		t.Errorf("after the first limpet stopped: %q, want the second's answer", body)
	}
}

// TestSocketOptionsImplyBind: as nginx's `bind`, a specific address with
// socket options has a socket of its own beside its port's wildcard
// (both with reuseport, which Linux requires of the pair).
func TestSocketOptionsImplyBind(t *testing.T) {
	var lb *limpet
	var port string
	for attempt := 0; lb == nil; attempt++ {
		port = freePort(t)
		var err error
		lb, err = tryStartLimpet(t, fmt.Sprintf(`
server { listen %[1]s reuseport; access_log off; location / { return 200 "wildcard"; } }
server { listen 127.0.0.2:%[1]s reuseport backlog=9; access_log off; location / { return 200 "specific"; } }
`, port))
		if err != nil && attempt == 4 {
			t.Fatal(err)
		}
	}
	if n := len(lb.rt.order); n != 2 {
		t.Fatalf("%d sockets, want two", n)
	}
	if got := listenBacklog(t, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: mustPort(t, port)}); got != min(9, sysctl(t, "net.core.somaxconn")) {
		t.Errorf("backlog of 127.0.0.2:%s: %d, want 9", port, got)
	}
	c := newClient(t)
	for host, want := range map[string]string{"127.0.0.1": "wildcard", "127.0.0.2": "specific"} {
		if _, body := get(t, c, "http://"+net.JoinHostPort(host, port)+"/"); body != want {
			t.Errorf("request to %s: %q, want %q", host, body, want)
		}
	}
}

func mustPort(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// keepalive is what getsockopt reads of a socket's TCP keep-alive.
type keepalive struct{ on, idle, intvl, cnt int }

func readKeepalive(t *testing.T, c interface {
	SyscallConn() (syscall.RawConn, error)
}) keepalive {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var k keepalive
	var gerr error
	get := func(fd, level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		gerr = errors.Join(gerr, err)
		return v
	}
	if err := rc.Control(func(fd uintptr) {
		s := int(fd)
		k = keepalive{
			on:    get(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE),
			idle:  get(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE),
			intvl: get(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
			cnt:   get(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
		}
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return k
}

// TestSoKeepalive: so_keepalive= reaches the connections limpet accepts
// (set on the listening socket, which they inherit); a part left out or
// 0 keeps the system's value, and without the parameter keep-alive stays
// off as the system has it (Go alone would turn it on at 15s).
func TestSoKeepalive(t *testing.T) {
	sys := keepalive{
		idle:  sysctl(t, "net.ipv4.tcp_keepalive_time"),
		intvl: sysctl(t, "net.ipv4.tcp_keepalive_intvl"),
		cnt:   sysctl(t, "net.ipv4.tcp_keepalive_probes"),
	}
	with := func(on, idle, intvl, cnt int) keepalive {
		k := sys
		k.on = on
		for p, v := range map[*int]int{&k.idle: idle, &k.intvl: intvl, &k.cnt: cnt} {
			if v != 0 {
				*p = v
			}
		}
		return k
	}
	tests := []struct {
		param string
		want  keepalive
	}{
		{"", with(0, 0, 0, 0)},
		{"so_keepalive=off", with(0, 0, 0, 0)},
		{"so_keepalive=on", with(1, 0, 0, 0)},
		{"so_keepalive=30m::10", with(1, 1800, 0, 10)},
		{"so_keepalive=:5", with(1, 0, 5, 0)},
		{"so_keepalive=0:0:3", with(1, 0, 0, 3)},
		{"so_keepalive=1h:2m:4", with(1, 3600, 120, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			lb := startLimpet(t, "server { listen 127.0.0.1:0 "+tt.param+"; access_log off; location / { return 200 ok; } }")
			if got := readKeepalive(t, lb.rt.order[0].ln.(*net.TCPListener)); got != tt.want {
				t.Errorf("limpet's listening socket: %+v, want %+v", got, tt.want)
			}

			// The same options on a socket of listenSocket's own, to
			// read them on a connection it accepted.
			cfg, err := config.LoadBytes("t.conf", []byte("server { listen 127.0.0.1:0 "+tt.param+"; }"), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := listenSocket("127.0.0.1:0", cfg.Servers[0].Listens[0])
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := readKeepalive(t, conn.(*net.TCPConn)); got != tt.want {
				t.Errorf("accepted connection: %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReloadSocketOptions: a reload that keeps an address gives its
// socket the new backlog (nginx's 511 once backlog= is gone) and
// so_keepalive, as nginx does with the sockets it inherits.
func TestReloadSocketOptions(t *testing.T) {
	somaxconn := sysctl(t, "net.core.somaxconn")
	conf := "server { listen 127.0.0.1:%s %s; access_log off; location / { return 200 ok; } }"
	// The address must be written the same in every configuration, so
	// a fixed port; another test may take the one picked, so pick again.
	var lb *limpet
	var port string
	for attempt := 0; lb == nil; attempt++ {
		port = freePort(t)
		var err error
		if lb, err = tryStartLimpet(t, fmt.Sprintf(conf, port, "backlog=7")); err != nil && attempt == 4 {
			t.Fatal(err)
		}
	}
	addr := lb.rt.Addrs()[0]
	steps := []struct {
		params    string
		backlog   int
		keepalive int // SO_KEEPALIVE
		idle      int // TCP_KEEPIDLE
	}{
		{"backlog=9 so_keepalive=100::", 9, 1, 100},
		{"so_keepalive=off", 511, 0, 100},
		{"backlog=300", 300, 0, 100}, // so_keepalive left out: unchanged
	}
	for _, st := range steps {
		if err := lb.reload(t, fmt.Sprintf(conf, port, st.params)); err != nil {
			t.Fatalf("reload with %q: %v", st.params, err)
		}
		if got := lb.rt.Addrs()[0]; got.String() != addr.String() {
			t.Fatalf("the socket moved to %s", got)
		}
		if got := listenBacklog(t, addr); got != min(st.backlog, somaxconn) {
			t.Errorf("after %q: backlog %d, want %d", st.params, got, st.backlog)
		}
		k := readKeepalive(t, lb.rt.order[0].ln.(*net.TCPListener))
		if k.on != st.keepalive || k.idle != st.idle {
			t.Errorf("after %q: keep-alive %+v, want on=%d idle=%d", st.params, k, st.keepalive, st.idle)
		}
	}
}
