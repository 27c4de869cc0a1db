package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/runtime"
)

// signals are the -s names and what they send, as in nginx.
var signals = map[string]syscall.Signal{
	"stop":   syscall.SIGTERM,
	"quit":   syscall.SIGQUIT,
	"reopen": sigReopen,
	"reload": syscall.SIGHUP,
}

// signalNames are the names nginx prints for the signals it handles.
var signalNames = map[os.Signal]string{
	syscall.SIGHUP:  "SIGHUP",
	syscall.SIGINT:  "SIGINT",
	syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGTERM: "SIGTERM",
	sigReopen:       "SIGUSR1",
	sigUpgrade:      "SIGUSR2",
}

// inheritEnv names the listening sockets a limpet hands to the new binary
// it starts on SIGUSR2: "ADDR=FD;ADDR=FD;", ADDR as the runtime names its
// listeners. nginx's variable is NGINX="FD;FD;"; limpet's names each
// socket's address, so the new process need not ask each socket.
const inheritEnv = "LIMPET_INHERIT"

// oldbinSuffix is appended to the pid file's name while a new binary runs
// beside the old one, as nginx does.
const oldbinSuffix = ".oldbin"

// instance is a running limpet: its configuration and runtime, its own
// log, its pid file, and the new binary it may have started. Only the
// goroutine of serve changes it.
type instance struct {
	confPath string
	opts     config.Options
	stderr   io.Writer
	elog     *errorLog
	log      *slog.Logger
	level    *slog.LevelVar // error_log's level, which a reload may change
	cfg      *config.Config
	rt       *runtime.Runtime
	pidPath  string // the pid file written, "" before it is

	// inherited is whether this process took its sockets from an old
	// binary, and parent the pid of that binary: while it is the parent
	// still, SIGUSR2 is ignored here, as nginx ignores it.
	inherited bool
	parent    int
	// left are the inherited sockets: the runtime deletes from the map
	// those it listens on, and serve closes the others, the addresses
	// this configuration no longer has.
	left map[string]net.Listener
	// child is the new binary started on SIGUSR2, until it exits.
	child  *os.Process
	exited chan childExit
}

// childExit is the end of a new binary, reported by its waiting goroutine.
type childExit struct {
	pid   int
	state *os.ProcessState
	err   error
}

// newInstance loads the configuration and builds its runtime, reporting
// the ignored directives and warnings on stderr as nginx reports its
// warnings at start.
func newInstance(confPath string, opts config.Options, inherited map[string]net.Listener, stderr io.Writer) (*instance, error) {
	cfg, err := config.Load(confPath, opts)
	if err != nil {
		return nil, err
	}
	reportWarnings(cfg, func(msg string) { fmt.Fprintf(stderr, "limpet: [warn] %s\n", msg) })
	elog, err := openErrorLog(cfg.ErrorLog, stderr)
	if err != nil {
		return nil, err
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.ErrorLogLevel))
	logger := slog.New(slog.NewTextHandler(elog, &slog.HandlerOptions{Level: level, ReplaceAttr: levelNames}))
	rt, err := runtime.New(cfg, runtime.Options{ErrorLog: logger, Inherited: inherited, Version: version})
	if err != nil {
		_ = elog.Close()
		return nil, err
	}
	return &instance{
		confPath:  confPath,
		opts:      opts,
		stderr:    stderr,
		elog:      elog,
		log:       logger,
		level:     level,
		cfg:       cfg,
		rt:        rt,
		inherited: inherited != nil,
		parent:    os.Getppid(),
		left:      inherited,
		exited:    make(chan childExit, 1),
	}, nil
}

// ignoredWarning is the warning for an ignored directive: nginx's "has no
// effect" wording, the reason, its first line and how many more there
// are (config lists each name once).
func ignoredWarning(ig config.Ignored) string {
	msg := fmt.Sprintf("the %q directive has no effect in limpet", ig.Name)
	if ig.Why != "" {
		msg += " (" + ig.Why + ")"
	}
	msg += ", ignored in " + ig.Pos.String()
	switch {
	case ig.More == 1:
		msg += " and 1 more line"
	case ig.More > 1:
		msg += fmt.Sprintf(" and %d more lines", ig.More)
	}
	return msg
}

// reportWarnings passes each ignored directive and warning of cfg to warn.
func reportWarnings(cfg *config.Config, warn func(msg string)) {
	for _, ig := range cfg.Ignored {
		warn(ignoredWarning(ig))
	}
	for _, w := range cfg.Warnings {
		warn(w.String())
	}
}

// serve runs the runtime until a stop signal, answering the others:
// SIGHUP reloads the configuration, SIGUSR1 reopens the log files,
// SIGUSR2 starts a new binary on the same sockets. SIGTERM and SIGINT stop
// fast, SIGQUIT gracefully.
func (p *instance) serve() int {
	// The signals are caught before the listeners open: a client may
	// send one as soon as it can connect, and the default action of most
	// is to kill limpet (of SIGQUIT, with a dump of every goroutine).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, sigReopen, sigUpgrade)
	defer signal.Stop(sigs)
	err := p.rt.Start()
	closeListeners(p.left)
	if err != nil {
		fmt.Fprintf(p.stderr, "limpet: [emerg] %v\n", err)
		_ = p.elog.Close()
		return 1
	}
	if err := writePID(p.cfg.PID); err != nil {
		fmt.Fprintf(p.stderr, "limpet: [emerg] %v\n", err)
		_ = p.rt.Shutdown(context.Background())
		_ = p.elog.Close()
		return 1
	}
	p.pidPath = p.cfg.PID
	if p.inherited {
		// Under systemd (Type=notify, NotifyAccess=all) the new binary
		// becomes the service's main process, so the old one may exit.
		sdNotify(fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid()))
	} else {
		sdNotify("READY=1")
	}
	for {
		select {
		case s := <-sigs:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				p.notice(s, ", exiting")
				return p.stop(sigs, p.fastTimeout())
			case syscall.SIGQUIT:
				p.notice(s, ", shutting down")
				return p.stop(sigs, p.cfg.WorkerShutdownTimeout)
			case syscall.SIGHUP:
				if p.child != nil {
					// nginx takes a HUP while its new binary runs for
					// a rollback: it starts workers of the running
					// configuration without reading the file again.
					// limpet has no workers to start; it keeps what
					// it runs, so SIGQUIT to the new binary is the
					// whole of going back.
					p.notice(s, ", keeping the configuration while a new binary runs")
					continue
				}
				p.notice(s, ", reconfiguring")
				p.reload()
			case sigReopen:
				p.notice(s, ", reopening logs")
				p.reopen()
			case sigUpgrade:
				p.changeBinary(s)
			}
		case e := <-p.exited:
			p.childExited(e)
		}
	}
}

// fastTimeout bounds a fast stop: shutdownTimeout, or
// worker_shutdown_timeout when that is shorter.
func (p *instance) fastTimeout() time.Duration {
	if d := p.cfg.WorkerShutdownTimeout; d > 0 && d < shutdownTimeout {
		return d
	}
	return shutdownTimeout
}

// notice logs a signal as nginx does: "signal 1 (SIGHUP) received,
// reconfiguring".
func (p *instance) notice(s os.Signal, action string) {
	n, _ := s.(syscall.Signal)
	p.log.Info(fmt.Sprintf("signal %d (%s) received%s", int(n), signalNames[s], action))
}

// stop shuts the runtime down, waiting for the requests in flight for up
// to timeout (0: as long as they last). A SIGTERM or SIGINT meanwhile
// cuts the wait short, as nginx's fast shutdown overrides a graceful one.
func (p *instance) stop(sigs <-chan os.Signal, timeout time.Duration) int {
	sdNotify("STOPPING=1")
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.rt.Shutdown(ctx) }()
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case s := <-sigs:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT:
				p.notice(s, ", exiting")
				cancel()
			default:
				p.notice(s, ", ignoring")
			}
		case e := <-p.exited:
			p.childExited(e)
		}
	}
	if err != nil {
		p.log.Warn("graceful shutdown cut short: " + err.Error())
	}
	p.removePID()
	p.log.Info("exit")
	_ = p.elog.Close()
	return 0
}

// reload loads the configuration again, from the same file and prefix,
// and hands it to the runtime. A configuration that fails to load or
// build is logged with its file and line and the running one is kept, as
// nginx keeps its old cycle.
func (p *instance) reload() {
	p.log.Info("reconfiguring")
	cfg, err := config.Load(p.confPath, p.opts)
	if err != nil {
		p.log.Log(context.Background(), levelEmerg, emerg(err))
		p.rt.ReloadFailed()
		return
	}
	reportWarnings(cfg, func(msg string) { p.log.Warn(msg) })
	var elog *errorLog
	if cfg.ErrorLog != p.elog.Path() {
		if elog, err = openErrorLog(cfg.ErrorLog, p.stderr); err != nil {
			p.log.Log(context.Background(), levelEmerg, emerg(err))
			p.rt.ReloadFailed()
			return
		}
	}
	sdNotify("RELOADING=1")
	defer sdNotify("READY=1")
	if err := p.rt.Reload(cfg); err != nil {
		p.log.Log(context.Background(), levelEmerg, emerg(err))
		if elog != nil {
			_ = elog.Close()
		}
		return
	}
	if elog != nil {
		p.elog.Adopt(elog)
	}
	p.level.Set(logLevel(cfg.ErrorLogLevel))
	if cfg.PID != p.pidPath && p.child == nil {
		// As nginx does when `pid` changes: the new file, then the old
		// one removed.
		if err := writePID(cfg.PID); err != nil {
			p.log.Error(err.Error())
		} else {
			p.removePID()
			p.pidPath = cfg.PID
		}
	}
	p.cfg = cfg
}

// emerg is the error of a refused reload as nginx words it in its error
// log, "[emerg] unexpected "}" in /etc/limpet/limpet.conf:4", so that the
// line an operator greps for after nginx's reload is there too.
func emerg(err error) string { return "[emerg] " + err.Error() }

// reopen opens the error log and the access logs again by their paths,
// for logrotate.
func (p *instance) reopen() {
	p.log.Info("reopening logs")
	if err := p.elog.Reopen(); err != nil {
		p.log.Error(err.Error())
	}
	if err := p.rt.ReopenLogs(); err != nil {
		p.log.Error(err.Error())
	}
}

// changeBinary is nginx's binary upgrade: the pid file becomes
// FILE.oldbin, and the executable (as it is on disk now) starts with the
// same arguments and this process's listening sockets. Both accept on
// them until the operator stops one: SIGQUIT to the old to finish the
// upgrade, to the new to go back.
func (p *instance) changeBinary(s os.Signal) {
	if p.child != nil || (p.inherited && os.Getppid() == p.parent) {
		p.notice(s, ", ignoring")
		p.log.Error("the changing binary signal is ignored: you should shutdown or terminate before either old or new binary's process")
		return
	}
	p.notice(s, ", changing binary")
	p.log.Info("changing binary")
	exe, err := os.Executable()
	if err != nil {
		p.log.Error("cannot find the executable: " + err.Error())
		return
	}
	files, err := p.rt.ListenerFiles()
	if err != nil {
		p.log.Error(err.Error())
		return
	}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	var inherit strings.Builder
	extra := make([]*os.File, 0, len(files))
	for addr, f := range files {
		// The child's descriptors 0-2 are its standard streams; the
		// ExtraFiles follow from 3.
		fmt.Fprintf(&inherit, "%s=%d;", addr, 3+len(extra))
		extra = append(extra, f)
	}
	env := []string{inheritEnv + "=" + inherit.String()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, inheritEnv+"=") {
			env = append(env, kv)
		}
	}
	oldbin := p.pidPath + oldbinSuffix
	if err := os.Rename(p.pidPath, oldbin); err != nil {
		p.log.Error(fmt.Sprintf("rename() %s to %s failed (%s) before executing new binary process %q", p.pidPath, oldbin, errnoText(err), exe))
		return
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = env
	cmd.ExtraFiles = extra
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		p.log.Error(fmt.Sprintf("execve() failed while executing new binary process %q (%s)", exe, errnoText(err)))
		if err := os.Rename(oldbin, p.pidPath); err != nil {
			p.log.Error(fmt.Sprintf("rename() %s back to %s failed (%s) after an attempt to execute new binary process %q", oldbin, p.pidPath, errnoText(err), exe))
		}
		return
	}
	p.log.Info(fmt.Sprintf("start new binary process %d", cmd.Process.Pid))
	p.child = cmd.Process
	go func() {
		err := cmd.Wait()
		p.exited <- childExit{pid: cmd.Process.Pid, state: cmd.ProcessState, err: err}
	}()
}

// childExited handles the end of the new binary: the upgrade did not
// happen (or was rolled back), so the pid file is this process's again.
func (p *instance) childExited(e childExit) {
	code := -1
	if e.state != nil {
		code = e.state.ExitCode()
	}
	p.log.Info(fmt.Sprintf("new binary process %d exited with code %d", e.pid, code))
	p.child = nil
	oldbin := p.pidPath + oldbinSuffix
	if err := os.Rename(oldbin, p.pidPath); err != nil {
		p.log.Error(fmt.Sprintf("rename() %s back to %s failed (%s) after the new binary process exited", oldbin, p.pidPath, errnoText(err)))
	}
	sdNotify(fmt.Sprintf("MAINPID=%d", os.Getpid()))
}

// writePID writes this process's ID to path, as nginx writes its pid file
// (truncated, then the number and a line feed).
func writePID(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("open() %q failed (%s)", path, errnoText(err))
	}
	return nil
}

// removePID removes the pid file: FILE.oldbin while a new binary runs,
// whose FILE it is.
func (p *instance) removePID() {
	if p.pidPath == "" {
		return
	}
	path := p.pidPath
	if p.child != nil {
		path += oldbinSuffix
	}
	if err := os.Remove(path); err != nil {
		p.log.Error(fmt.Sprintf("unlink() %q failed (%s)", path, errnoText(err)))
	}
}

// inheritedListeners returns the sockets an old binary handed over in
// LIMPET_INHERIT, by listen address, or nil when there are none. The
// variable is removed, so that it does not reach the next binary. A bad
// entry is reported and skipped, as nginx skips it.
func inheritedListeners(stderr io.Writer) map[string]net.Listener {
	v, ok := os.LookupEnv(inheritEnv)
	if !ok {
		return nil
	}
	_ = os.Unsetenv(inheritEnv)
	fmt.Fprintf(stderr, "limpet: [notice] using inherited sockets from %q\n", v)
	lns := make(map[string]net.Listener)
	for _, item := range strings.Split(v, ";") {
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, '=')
		fd, err := strconv.Atoi(item[i+1:])
		if i < 0 || err != nil || fd < 3 {
			fmt.Fprintf(stderr, "limpet: [emerg] invalid socket number %q in %s environment variable, ignoring\n", item, inheritEnv)
			continue
		}
		f := os.NewFile(uintptr(fd), item[:i])
		ln, err := net.FileListener(f)
		_ = f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "limpet: [emerg] inherited socket %q: %v\n", item, err)
			continue
		}
		lns[item[:i]] = ln
	}
	return lns
}

// closeListeners closes the sockets in lns.
func closeListeners(lns map[string]net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// signalProcess is -s: it reads the pid file of the configuration and
// sends the limpet there the signal, with nginx's messages when it cannot.
func signalProcess(confPath string, opts config.Options, name string, stderr io.Writer) int {
	cfg, err := config.Load(confPath, opts)
	if err != nil {
		fmt.Fprintf(stderr, "limpet: [emerg] %v\n", err)
		return 1
	}
	reportWarnings(cfg, func(msg string) { fmt.Fprintf(stderr, "limpet: [warn] %s\n", msg) })
	b, err := os.ReadFile(cfg.PID)
	if err != nil {
		fmt.Fprintf(stderr, "limpet: [error] open() %q failed (%s)\n", cfg.PID, errnoText(err))
		return 1
	}
	text := strings.TrimRight(string(b), "\r\n")
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 0 {
		// pid 0 or below would signal a process group: refused.
		fmt.Fprintf(stderr, "limpet: [error] invalid PID number %q in %q\n", text, cfg.PID)
		return 1
	}
	sig := signals[name]
	if err := kill(pid, sig); err != nil {
		fmt.Fprintf(stderr, "limpet: [alert] kill(%d, %d) failed (%s)\n", pid, int(sig), errnoText(err))
		return 1
	}
	return 0
}

// errnoText is a system error as nginx prints it: "2: No such file or
// directory".
func errnoText(err error) string {
	if errno, ok := errors.AsType[syscall.Errno](err); ok {
		text := errno.Error()
		if text != "" {
			text = strings.ToUpper(text[:1]) + text[1:] // strerror's capital
		}
		return fmt.Sprintf("%d: %s", int(errno), text)
	}
	return err.Error()
}
