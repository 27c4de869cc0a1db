package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/demo"
	"github.com/limpet-lb/limpet/internal/runtime"
)

// demoConfig is the configuration of the design notes, as written, with
// the two backends' addresses changed to local ones and the listen address
// to a port that needs no privileges, and an admin server beside it. %s
// are app-01, app-02, the listen address and the admin address.
const demoConfig = `# The design notes' configuration, run by "limpet demo".
upstream backend {
    server %s;   # app-01
    server %s;   # app-02

    # This is the key for sticky sessions
    sticky cookie SERVERID expires=1h path=/;
}

server {
    listen %s;
    server_name loadbalancer.example.com;

    location / {
        proxy_pass http://backend;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}

# Not in the design notes: limpet's tools for operators, on their own port.
server {
    listen %s;
    access_log off;
    allow 127.0.0.1;
    allow ::1;
    deny all;
    location /api/ { api write=on; }
    location /dashboard/ { dashboard; }
    location = /metrics { metrics; }
    location = / { return 302 /dashboard/; }
}
`

// demoOptions are the addresses the demo uses.
type demoOptions struct {
	listen, control, admin, app1, app2 string
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("limpet demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "`address` of the load balancer")
	fs.StringVar(&o.control, "control", "127.0.0.1:8081", "`address` of the demo control panel")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:8082", "`address` of limpet's dashboard, API and metrics")
	fs.StringVar(&o.app1, "app-01", "127.0.0.1:9001", "`address` of the app-01 backend")
	fs.StringVar(&o.app2, "app-02", "127.0.0.1:9002", "`address` of the app-02 backend")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: limpet demo [flags]\n\nRuns two demo backends and limpet in front of them with the design notes' configuration.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := demoRun(ctx, o, stdout, nil); err != nil {
		fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
		return 1
	}
	return 0
}

// demoRun runs the demo until ctx is done. ready, if not nil, receives the
// addresses of the load balancer, the control panel and limpet's admin
// server once they serve.
func demoRun(ctx context.Context, o demoOptions, stdout io.Writer, ready func(lb, control, admin string)) error {
	apps := []*demo.Backend{demo.NewBackend("app-01", o.app1), demo.NewBackend("app-02", o.app2)}
	controlLn, err := net.Listen("tcp", o.control)
	if err != nil {
		return fmt.Errorf("demo control panel: %w", err)
	}
	controlURL := "http://" + controlLn.Addr().String() + "/"
	for _, a := range apps {
		a.ControlURL = controlURL
		if err := a.Start(); err != nil {
			_ = controlLn.Close()
			stopAll(apps)
			return fmt.Errorf("demo backend %s: %w", a.Name(), err)
		}
	}
	defer stopAll(apps)

	// The configuration goes to a file, so that limpet reads it exactly
	// as it would read yours, and you can read it too.
	dir, err := os.MkdirTemp("", "limpet-demo-")
	if err != nil {
		_ = controlLn.Close()
		return err
	}
	defer os.RemoveAll(dir)
	confPath := filepath.Join(dir, "limpet.conf")
	conf := fmt.Sprintf(demoConfig, apps[0].Addr(), apps[1].Addr(), o.listen, o.admin)
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		_ = controlLn.Close()
		return err
	}
	cfg, err := config.Load(confPath, config.Options{})
	if err != nil {
		_ = controlLn.Close()
		return err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stdout, "limpet: [warn] %s\n", w)
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	rt, err := runtime.New(cfg, runtime.Options{ErrorLog: logger, Stdout: stdout, Version: version})
	if err != nil {
		_ = controlLn.Close()
		return err
	}
	if err := rt.Start(); err != nil {
		_ = controlLn.Close()
		_ = rt.Shutdown(context.Background())
		return err
	}
	lbURL := "http://" + rt.Addrs()[0].String() + "/"
	adminURL := "http://" + rt.Addrs()[1].String() + "/"
	controlSrv := &http.Server{Handler: demo.NewControl(apps, demo.WithLBURL(lbURL)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = controlSrv.Serve(controlLn) }()

	printDemoHelp(stdout, lbURL, controlURL, adminURL, apps, confPath, conf)
	if ready != nil {
		ready(rt.Addrs()[0].String(), controlLn.Addr().String(), rt.Addrs()[1].String())
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "limpet demo: stopping")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = controlSrv.Shutdown(sctx)
	return rt.Shutdown(sctx)
}

func stopAll(apps []*demo.Backend) {
	for _, a := range apps {
		if a.Running() {
			_ = a.Stop()
		}
	}
}

func printDemoHelp(w io.Writer, lbURL, controlURL, adminURL string, apps []*demo.Backend, confPath, conf string) {
	jar := filepath.Join(os.TempDir(), "limpet-demo-jar")
	var b strings.Builder
	fmt.Fprintf(&b, "limpet demo is running (Ctrl-C stops it).\n\n")
	fmt.Fprintf(&b, "  load balancer   %s\n", lbURL)
	for _, a := range apps {
		fmt.Fprintf(&b, "  %-15s http://%s/   (keeps its sessions in its own memory)\n", a.Name(), a.Addr())
	}
	fmt.Fprintf(&b, "  control panel   %s   (stop and restart a backend)\n", controlURL)
	fmt.Fprintf(&b, "  dashboard       %sdashboard/   (live servers; drain one with a click)\n", adminURL)
	fmt.Fprintf(&b, "  runtime API     %sapi/9/http/upstreams   metrics: %smetrics\n\n", adminURL, adminURL)
	fmt.Fprintf(&b, "The configuration, from the design notes (%s):\n\n", confPath)
	for _, line := range strings.Split(strings.TrimRight(conf, "\n"), "\n") {
		fmt.Fprintf(&b, "    %s\n", line)
	}
	fmt.Fprintf(&b, `
See stickiness (or open %[1]s in a browser and reload):
    curl -si %[1]s | grep -i -e set-cookie -e x-served-by     # a new user gets a SERVERID cookie
    curl -s -c %[2]s -b %[2]s %[1]s                            # repeat: same server, visits grow
    for i in 1 2 3 4; do curl -s %[1]s; done                   # new users spread over app-01 and app-02

Watch failover reassign you (and lose the session, as the notes warn):
stop the server your jar is pinned to (or use the control panel), then ask again:
    S=$(curl -s -c %[2]s -b %[2]s %[1]s | sed 's/^server=\([a-z0-9-]*\).*/\1/'); echo "pinned to $S"
    curl -s -X POST %[3]sbackends/$S/stop
    curl -s -c %[2]s -b %[2]s %[1]s                            # the other server, a new cookie, session=lost
    curl -s -X POST %[3]sbackends/$S/start

Drain a server: the users on it stay, new users go to the other one:
    curl -s -X PATCH -H 'Content-Type: application/json' -d '{"drain":true}' %[4]sapi/9/http/upstreams/backend/servers/0

Each request is logged below with its persistence decision ("sticky":"hit", "new/no_cookie", "reassigned/server_failed", ...).

`, lbURL, jar, controlURL, adminURL)
	_, _ = io.WriteString(w, b.String())
}
