package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
)

// needIPv6Loopback skips a test on a machine without ::1 (a container
// without IPv6), even under CI: the test can only show what limpet does
// on a system that has it.
func needIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback (::1) on this machine: %v", err)
	}
	ln.Close()
}

// startOnSharedPort starts a limpet whose configuration, conf with "%[1]s"
// the port, listens on one port of both families, picked free on both; it
// picks again when another test took the port meanwhile. The error log
// goes to errLog.
func startOnSharedPort(t *testing.T, conf string, errLog io.Writer) (*limpet, string) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", ":0") // free on both families
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		rt, err := New(loadConf(t, fmt.Sprintf(conf, port)), Options{ErrorLog: slog.New(slog.NewTextHandler(errLog, nil))})
		if err != nil {
			t.Fatalf("runtime: %v", err)
		}
		if err = rt.Start(); err == nil {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = rt.Shutdown(ctx)
			})
			return &limpet{rt: rt}, port
		}
		_ = rt.Shutdown(context.Background())
		if attempt == 4 {
			t.Fatal(err)
		}
	}
}

// loadConf loads conf as a configuration file.
func loadConf(t *testing.T, conf string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

// getHost sends a request for Host host to addr and returns the body.
func getHost(t *testing.T, addr, host string) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("request to %s: %v", addr, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// Mattermost's `listen 80 default_server; listen [::]:80 default_server;`:
// as in nginx, a bare port is IPv4's 0.0.0.0 and [::] a socket of its own
// with IPV6_V6ONLY, so each has its default server.
func TestListenIPv4AndIPv6Wildcards(t *testing.T) {
	needIPv6Loopback(t)
	lb, port := startOnSharedPort(t, `
server { listen %[1]s default_server; access_log off; location / { return 200 "v4 $server_addr $server_port"; } }
server { listen [::]:%[1]s default_server; access_log off; location / { return 200 "v6 $server_addr $server_port"; } }
server { listen %[1]s; listen [::]:%[1]s; server_name both; access_log off; location / { return 200 "both $server_addr"; } }
`, io.Discard)
	if n := len(lb.rt.Addrs()); n != 2 {
		t.Fatalf("%d sockets, want 0.0.0.0's and [::]'s", n)
	}
	tests := []struct{ addr, host, want string }{
		{"127.0.0.1:" + port, "unknown", "v4 127.0.0.1 " + port},
		{"[::1]:" + port, "unknown", "v6 ::1 " + port},
		{"127.0.0.1:" + port, "both", "both 127.0.0.1"},
		{"[::1]:" + port, "both", "both ::1"},
	}
	for _, tt := range tests {
		if got := getHost(t, tt.addr, tt.host); got != tt.want {
			t.Errorf("%s with Host %s: %q, want %q", tt.addr, tt.host, got, tt.want)
		}
	}
}

// The Mattermost configuration in one server block.
func TestListenBothFamiliesDefaultInOneServer(t *testing.T) {
	needIPv6Loopback(t)
	_, port := startOnSharedPort(t, `
server { listen %[1]s default_server; listen [::]:%[1]s default_server; access_log off; location / { return 200 "default"; } }
server { listen %[1]s; server_name other; access_log off; location / { return 200 "other"; } }
`, io.Discard)
	for _, addr := range []string{"127.0.0.1:" + port, "[::1]:" + port} {
		if got := getHost(t, addr, "x"); got != "default" {
			t.Errorf("%s: %q, want the default server", addr, got)
		}
	}
	if got := getHost(t, "127.0.0.1:"+port, "other"); got != "other" {
		t.Errorf("Host other over IPv4: %q", got)
	}
	// other listens on IPv4 only.
	if got := getHost(t, "[::1]:"+port, "other"); got != "default" {
		t.Errorf("Host other over IPv6: %q, want the default server", got)
	}
}

// A specific address goes through its own family's wildcard socket only.
func TestListenSpecificAddressesPerFamily(t *testing.T) {
	needIPv6Loopback(t)
	lb, port := startOnSharedPort(t, `
server { listen %[1]s; access_log off; location / { return 200 "v4 wildcard"; } }
server { listen [::]:%[1]s; access_log off; location / { return 200 "v6 wildcard"; } }
server { listen [::1]:%[1]s; access_log off; location / { return 200 "v6 loopback"; } }
server { listen 127.0.0.2:%[1]s; access_log off; location / { return 200 "127.0.0.2"; } }
`, io.Discard)
	if n := len(lb.rt.Addrs()); n != 2 {
		t.Fatalf("%d sockets, want the two wildcards", n)
	}
	for addr, want := range map[string]string{
		"127.0.0.1:" + port: "v4 wildcard",
		"127.0.0.2:" + port: "127.0.0.2",
		"[::1]:" + port:     "v6 loopback",
	} {
		if got := getHost(t, addr, "x"); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

// ipv6only=off makes [::] take IPv4 connections too.
func TestListenIPv6OnlyOff(t *testing.T) {
	needIPv6Loopback(t)
	lb, port := startOnSharedPort(t, `
server { listen [::]:%[1]s ipv6only=off; access_log off; location / { return 200 "dual $server_addr $server_port"; } }
`, io.Discard)
	if n := len(lb.rt.Addrs()); n != 1 {
		t.Fatalf("%d sockets, want one", n)
	}
	for addr, want := range map[string]string{
		"127.0.0.1:" + port: "dual 127.0.0.1 " + port,
		"[::1]:" + port:     "dual ::1 " + port,
	} {
		if got := getHost(t, addr, "x"); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

// A dual-stack [::] socket holds IPv4's port: a 0.0.0.0 socket of it
// cannot be bound, in nginx's words; with ipv6only on (the default) both
// bind.
func TestListenIPv6OnlyOffConflicts(t *testing.T) {
	needIPv6Loopback(t)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	_, err = tryStartLimpet(t, fmt.Sprintf(`
server { listen [::]:%[1]s ipv6only=off; access_log off; location / { return 200; } }
server { listen %[1]s; access_log off; location / { return 200; } }
`, port))
	want := "bind() to 0.0.0.0:" + port + " failed (98: Address already in use)"
	if err == nil || err.Error() != want {
		t.Fatalf("start: %v, want %q", err, want)
	}
	// The [::] socket bound first was closed again.
	ln, err = net.Listen("tcp", ":"+port)
	if err != nil {
		t.Fatalf("the port is still taken after the failed start: %v", err)
	}
	ln.Close()
}

// A socket kept by a reload keeps its IPV6_V6ONLY, which a bound socket
// cannot change; the reload says so.
func TestListenIPv6OnlyReload(t *testing.T) {
	needIPv6Loopback(t)
	errLog := &syncBuffer{}
	lb, port := startOnSharedPort(t, `
server { listen [::]:%[1]s; access_log off; location / { return 200 "v6"; } }
`, errLog)
	if err := lb.rt.Reload(loadConf(t, fmt.Sprintf(`
server { listen [::]:%[1]s ipv6only=off; access_log off; location / { return 200 "v6 after"; } }
`, port))); err != nil {
		t.Fatal(err)
	}
	if got := getHost(t, "[::1]:"+port, "x"); got != "v6 after" {
		t.Errorf("after the reload: %q", got)
	}
	if !strings.Contains(errLog.String(), "the ipv6only of [::]:"+port+" is unchanged until limpet restarts") {
		t.Errorf("error log %q lacks the warning", errLog.String())
	}
}
