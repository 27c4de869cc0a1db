package runtime

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// worker_connections caps the client connections of all listeners
// together: with 1, a connection to the second listener waits until the
// one served by the first ends.
func TestWorkerConnectionsAcrossListeners(t *testing.T) {
	app := newBackend(t, "app")
	entered, release := make(chan struct{}), make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "app")
	})
	lb := startLimpet(t, `
events { worker_connections 1; }
upstream u { server {{app}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://u; } }
server { listen 127.0.0.2:0; access_log off; location / { proxy_pass http://u; } }
`, "{{app}}", app.addr())
	addrs := lb.rt.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("%d listeners, want 2", len(addrs))
	}
	if active, max := lb.rt.Connections(); active != 0 || max != 1 {
		t.Errorf("Connections() = %d, %d; want 0, 1", active, max)
	}
	send := func(addr net.Addr, path string) (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		return c, bufio.NewReader(c)
	}
	read := func(br *bufio.Reader) string {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, b)
	}

	_, first := send(addrs[0], "/slow")
	<-entered
	_, second := send(addrs[1], "/")
	eventually(t, 5*time.Second, "the shortage logged", func() bool {
		return strings.Contains(lb.errLog.String(), `msg="1 worker_connections are not enough"`)
	})
	if active, _ := lb.rt.Connections(); active != 1 {
		t.Errorf("%d connections, want 1", active)
	}
	close(release)
	if got := read(first); got != "200 app" {
		t.Errorf("first: %q", got)
	}
	if got := read(second); got != "200 app" {
		t.Errorf("second, after the first closed: %q", got)
	}
}

// As nginx does, limpet warns when worker_connections exceeds the limit
// on open files.
func TestWorkerConnectionsOverFileLimit(t *testing.T) {
	limit, ok := fileLimit()
	if !ok || limit >= 1<<31-1 {
		t.Skip("no open file limit below 2147483647")
	}
	lb := startLimpet(t, `
events { worker_connections 2147483647; }
server { listen 127.0.0.1:0; access_log off; location / { return 204; } }
`)
	want := fmt.Sprintf(`msg="2147483647 worker_connections exceed open file resource limit: %d"`, limit)
	if !strings.Contains(lb.errLog.String(), want) {
		t.Errorf("error log lacks %s:\n%s", want, lb.errLog.String())
	}
}

// A reload that raises worker_connections lets a connection waiting for
// a slot in, while the one holding the only slot of the old limit is
// still served.
func TestReloadRaisesWorkerConnections(t *testing.T) {
	app := newBackend(t, "app")
	entered, release := make(chan struct{}), make(chan struct{})
	app.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = io.WriteString(w, "app")
	})
	conf := `
events { worker_connections %d; }
upstream u { server {{app}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://u; } }
`
	lb := startLimpet(t, fmt.Sprintf(conf, 1), "{{app}}", app.addr())
	slow := getInBackground(lb.url + "/slow")
	<-entered
	waiting := make(chan string, 1)
	go func() {
		res, err := http.Get(lb.url + "/")
		if err != nil {
			waiting <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		waiting <- string(b)
	}()
	eventually(t, 5*time.Second, "the shortage logged", func() bool {
		return strings.Contains(lb.errLog.String(), `msg="1 worker_connections are not enough"`)
	})
	if err := lb.reload(t, fmt.Sprintf(conf, 2), "{{app}}", app.addr()); err != nil {
		t.Fatal(err)
	}
	if got := <-waiting; got != "app" {
		t.Errorf("the waiting connection after the reload to 2: %q", got)
	}
	if _, max := lb.rt.Connections(); max != 2 {
		t.Errorf("worker_connections after the reload: %d, want 2", max)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}
