// Command limpet-pprof runs limpet as cmd/limpet does, with Go's profiler
// (net/http/pprof) served on a side address, so limpet can be profiled
// under a real load generator. It is a benchmarking tool, not a way to run
// limpet: the profiler must never face clients, so -pprof refuses any
// address but loopback.
//
//	limpet-pprof -c FILE [-pprof 127.0.0.1:6060]
//
// bench/README.md has the recipe.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/gctune"
	"github.com/limpet-lb/limpet/internal/runtime"
)

func main() {
	confPath := flag.String("c", "/etc/limpet/limpet.conf", "configuration `file`")
	side := flag.String("pprof", "127.0.0.1:6060", "loopback `address` for /debug/pprof/")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		gctune.Start() // as cmd/limpet does
	}
	if err := run(*confPath, *side); err != nil {
		fmt.Fprintf(os.Stderr, "limpet-pprof: %v\n", err)
		os.Exit(1)
	}
}

func run(confPath, side string) error {
	host, _, err := net.SplitHostPort(side)
	if err != nil {
		return fmt.Errorf("bad -pprof address %q: %w", side, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-pprof address %q is not a loopback address", side)
	}

	cfg, err := config.Load(confPath, config.Options{})
	if err != nil {
		return err
	}
	rt, err := runtime.New(cfg, runtime.Options{})
	if err != nil {
		return err
	}
	if err := rt.Start(); err != nil {
		return err
	}

	// A mux of its own: nothing of the profiler is reachable through
	// limpet's listeners.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", side)
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return err
	}
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ps.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "limpet-pprof: limpet running from %s; profiler on http://%s/debug/pprof/\n", confPath, side)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ps.Shutdown(sctx)
	return rt.Shutdown(sctx)
}
