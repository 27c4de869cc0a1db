// Command limpet is a sticky-session HTTP load balancer configured in
// nginx's language.
//
//	limpet [-c FILE]        run with the configuration FILE
//	limpet -t [-c FILE]     test the configuration and exit
//	limpet -v               print the version and exit
//	limpet demo             run the demo: two backends and limpet in front
//
// This file holds flags, signals and wiring only; everything else lives
// under internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/gctune"
	"github.com/limpet-lb/limpet/internal/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// defaultConfig is where limpet looks for its configuration without -c.
const defaultConfig = "/etc/limpet/limpet.conf"

// shutdownTimeout bounds how long a stopping limpet waits for requests in
// flight.
const shutdownTimeout = 10 * time.Second

func main() {
	if os.Getenv("GOGC") == "" {
		// A fixed headroom of garbage rather than Go's ratio: see
		// package gctune. GOGC, when set, is the user's choice.
		gctune.Start()
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "demo" {
		return runDemo(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("limpet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	confPath := fs.String("c", defaultConfig, "configuration `file`")
	test := fs.Bool("t", false, "test the configuration and exit")
	showVersion := fs.Bool("v", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: limpet [-v] [-t] [-c file]\n       limpet demo [-h]\n\nOptions:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "limpet: invalid option: %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "limpet version: limpet/%s\n", version)
		return 0
	}

	// Paths in messages are absolute, as nginx prints them.
	if abs, err := filepath.Abs(*confPath); err == nil {
		*confPath = abs
	}
	cfg, rt, err := load(*confPath, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
		if *test {
			fmt.Fprintf(stderr, "limpet: configuration file %s test failed\n", *confPath)
		}
		return 1
	}
	if *test {
		fmt.Fprintf(stderr, "limpet: the configuration file %s syntax is ok\n", cfg.File)
		fmt.Fprintf(stderr, "limpet: configuration file %s test is successful\n", cfg.File)
		_ = rt.Shutdown(context.Background())
		return 0
	}
	return serve(rt, stderr)
}

// parseFlags parses args with fs. On -h it reports exit code 0, on a bad
// flag 2 (fs has printed why); ok means go on.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// load reads and builds a configuration, reporting ignored directives and
// the configuration's warnings as nginx reports its warnings.
func load(path string, stderr io.Writer) (*config.Config, *runtime.Runtime, error) {
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		return nil, nil, err
	}
	for _, ig := range cfg.Ignored {
		fmt.Fprintf(stderr, "limpet: [warn] the %q directive has no effect in limpet, ignored in %s\n", ig.Name, ig.Pos)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "limpet: [warn] %s\n", w)
	}
	logger, err := errorLogger(cfg.ErrorLog, cfg.ErrorLogLevel, stderr)
	if err != nil {
		return nil, nil, err
	}
	rt, err := runtime.New(cfg, runtime.Options{ErrorLog: logger, Version: version})
	if err != nil {
		return nil, nil, err
	}
	return cfg, rt, nil
}

// logLevels maps error_log's levels to slog's. nginx's notice, crit,
// alert and emerg fall between or above slog's four; limpet writes
// nothing above error, so "crit" and higher silence it.
var logLevels = map[string]slog.Level{
	"debug":  slog.LevelDebug,
	"info":   slog.LevelInfo,
	"notice": slog.LevelInfo + 2,
	"warn":   slog.LevelWarn,
	"error":  slog.LevelError,
	"crit":   slog.LevelError + 4,
	"alert":  slog.LevelError + 8,
	"emerg":  slog.LevelError + 12,
}

// errorLogger returns limpet's own logger, writing to path ("stderr" or a
// file) the messages from level on (error_log's word; "" for info).
func errorLogger(path, level string, stderr io.Writer) (*slog.Logger, error) {
	var w io.Writer = stderr
	switch path {
	case "", "stderr", "/dev/stderr":
	case "stdout", "/dev/stdout":
		w = os.Stdout
	default:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open() %q failed (%w)", path, err)
		}
		w = f
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if l, ok := logLevels[level]; ok {
		opts.Level = l
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// serve runs rt until SIGTERM or SIGINT, then shuts down gracefully.
func serve(rt *runtime.Runtime, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP is nginx's reload. limpet cannot reload yet; without this
	// the signal's default action would kill it on the spot. It is caught
	// before the listeners open: a client may send it as soon as it can connect.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	go func() {
		for range hup {
			fmt.Fprintf(stderr, "limpet: [warn] SIGHUP: reloading the configuration is not supported yet; restart limpet to apply changes\n")
		}
	}()
	if err := rt.Start(); err != nil {
		fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
		return 1
	}
	<-ctx.Done()
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := rt.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "limpet: [warn] graceful shutdown cut short: %v\n", err)
	}
	return 0
}
