package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// errorLog is where limpet's own log goes (error_log): stderr, stdout or
// a file, which SIGUSR1 opens again by its path and a reload may move.
type errorLog struct {
	mu   sync.Mutex // guards path, w and f: Write may run while a signal moves them
	path string
	w    io.Writer
	f    *os.File // the file opened, nil for a standard stream
}

// openErrorLog opens path ("stderr", "stdout", their /dev names, or a
// file opened for appending); "" is stderr.
func openErrorLog(path string, stderr io.Writer) (*errorLog, error) {
	switch path {
	case "", "stderr", "/dev/stderr":
		return &errorLog{path: path, w: stderr}, nil
	case "stdout", "/dev/stdout":
		return &errorLog{path: path, w: os.Stdout}, nil
	}
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &errorLog{path: path, w: f, f: f}, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open() %q failed (%s)", path, errnoText(err))
	}
	return f, nil
}

// Write writes one record.
func (e *errorLog) Write(b []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.w.Write(b)
}

// Path is the error_log path the log writes to.
func (e *errorLog) Path() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.path
}

// Reopen opens the file again by its path, after logrotate has renamed
// it; the old file is kept when the new one cannot be opened.
func (e *errorLog) Reopen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	f, err := openLogFile(e.path)
	if err != nil {
		return err
	}
	_ = e.f.Close()
	e.f, e.w = f, f
	return nil
}

// Adopt makes e write where n does, closing e's file; n is not used after.
func (e *errorLog) Adopt(n *errorLog) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f != nil {
		_ = e.f.Close()
	}
	e.path, e.w, e.f = n.path, n.w, n.f
}

// Close closes the file, if any; later records are dropped.
func (e *errorLog) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w = io.Discard
	if e.f == nil {
		return nil
	}
	f := e.f
	e.f = nil
	return f.Close()
}

// logLevels maps error_log's levels to slog's. nginx's notice, crit,
// alert and emerg fall between or above slog's four; limpet writes
// only a refused reload above error (at emerg, as nginx does), so "crit"
// and "alert" keep that line alone and "emerg" too.
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

// logLevel returns the slog level of error_log's LEVEL; "" (not given)
// is info.
func logLevel(level string) slog.Level {
	if l, ok := logLevels[level]; ok {
		return l
	}
	return slog.LevelInfo
}

// levelEmerg is nginx's emerg: the level of a refused configuration.
const levelEmerg = slog.LevelError + 12

// levelNames writes the levels above slog's four by nginx's names
// (NOTICE, CRIT, ALERT, EMERG) rather than as "ERROR+12".
func levelNames(_ []string, a slog.Attr) slog.Attr {
	if a.Key != slog.LevelKey {
		return a
	}
	l, ok := a.Value.Any().(slog.Level)
	if !ok {
		return a
	}
	for name, v := range logLevels {
		if v == l && l != slog.LevelDebug && l != slog.LevelInfo && l != slog.LevelWarn && l != slog.LevelError {
			return slog.String(slog.LevelKey, strings.ToUpper(name))
		}
	}
	return a
}
