// Command limpet is a sticky-session HTTP load balancer configured in
// nginx's language.
//
//	limpet [-p PREFIX] [-c FILE]           run with the configuration FILE
//	limpet -t [-p PREFIX] [-c FILE]        test the configuration and exit
//	limpet -s SIGNAL [-p PREFIX] [-c FILE] send stop, quit, reopen or reload
//	                                       to the limpet of that configuration
//	limpet -v                              print the version and exit
//	limpet demo                            run the demo: two backends and limpet in front
//
// main.go holds the flags, process.go the running process (signals, pid
// file, reload, binary upgrade); everything else lives under internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/gctune"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// defaultConfig is where limpet looks for its configuration without -c.
const defaultConfig = "/etc/limpet/limpet.conf"

// shutdownTimeout bounds how long a fast stop (SIGTERM, SIGINT) waits for
// requests in flight; worker_shutdown_timeout shortens it.
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
	prefix := fs.String("p", "", "set the `prefix` relative log and pid paths resolve against, and a relative -c (default: the configuration file's directory)")
	sig := fs.String("s", "", "send `signal` to the running limpet: stop, quit, reopen, reload")
	test := fs.Bool("t", false, "test the configuration and exit")
	showVersion := fs.Bool("v", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: limpet [-v] [-t] [-s signal] [-p prefix] [-c file]\n       limpet demo [-h]\n\nOptions:\n")
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
	if *sig != "" && signals[*sig] == 0 {
		// ngx_get_options' words.
		fmt.Fprintf(stderr, "limpet: invalid option: \"-s %s\"\n", *sig)
		return 2
	}

	// As in nginx, a relative -c is relative to the prefix when there is
	// one. Paths in messages are absolute, as nginx prints them.
	var opts config.Options
	if *prefix != "" {
		p, err := filepath.Abs(*prefix)
		if err != nil {
			fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
			return 1
		}
		opts.Prefix = p
		if !filepath.IsAbs(*confPath) {
			*confPath = filepath.Join(p, *confPath)
		}
	}
	if abs, err := filepath.Abs(*confPath); err == nil {
		*confPath = abs
	}
	if *sig != "" && !*test {
		return signalProcess(*confPath, opts, *sig, stderr)
	}
	inherited := inheritedListeners(stderr)
	p, err := newInstance(*confPath, opts, inherited, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
		if *test {
			fmt.Fprintf(stderr, "limpet: configuration file %s test failed\n", *confPath)
		}
		closeListeners(inherited)
		return 1
	}
	if *test {
		fmt.Fprintf(stderr, "limpet: the configuration file %s syntax is ok\n", p.cfg.File)
		fmt.Fprintf(stderr, "limpet: configuration file %s test is successful\n", p.cfg.File)
		_ = p.rt.Shutdown(context.Background())
		closeListeners(inherited)
		return 0
	}
	return p.serve()
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
