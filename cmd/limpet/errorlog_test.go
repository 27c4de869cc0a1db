package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The error log follows a rename with Reopen, and a reload's new path
// with Adopt; the standard streams have nothing to reopen.
func TestErrorLog(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "error.log"), filepath.Join(dir, "other.log")
	var stderr bytes.Buffer
	e, err := openErrorLog(first, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		if _, err := e.Write([]byte(s + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	if err := os.Rename(first, first+".1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Reopen(); err != nil {
		t.Fatal(err)
	}
	write("two")
	n, err := openErrorLog(second, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	e.Adopt(n)
	write("three")
	if e.Path() != second {
		t.Errorf("Path() = %q after Adopt, want %q", e.Path(), second)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	write("dropped")
	for path, want := range map[string]string{first + ".1": "one\n", first: "two\n", second: "three\n"} {
		if b, _ := os.ReadFile(path); string(b) != want {
			t.Errorf("%s: %q, want %q", path, b, want)
		}
	}

	s, err := openErrorLog("stderr", &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Errorf("Reopen of stderr: %v", err)
	}
	_, _ = s.Write([]byte("to stderr\n"))
	if stderr.String() != "to stderr\n" {
		t.Errorf("stderr got %q", stderr.String())
	}

	if _, err := openErrorLog(filepath.Join(dir, "none", "x.log"), &stderr); err == nil ||
		!strings.Contains(err.Error(), `open() "`+filepath.Join(dir, "none", "x.log")+`" failed (2: No such file or directory)`) {
		t.Errorf("opening under a missing directory: %v", err)
	}
}

// A refused reload's line is logged at emerg, so error_log's crit, alert
// and emerg keep it, and its level reads EMERG, not ERROR+12.
func TestEmergLineAtEveryLevel(t *testing.T) {
	for _, level := range []string{"", "error", "crit", "alert", "emerg"} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: logLevel(level), ReplaceAttr: levelNames}))
		log.Log(context.Background(), levelEmerg, emerg(errors.New(`unknown directive "foo" in /etc/limpet/limpet.conf:9`)))
		if got := buf.String(); !strings.Contains(got, `level=EMERG msg="[emerg] unknown directive \"foo\" in /etc/limpet/limpet.conf:9"`) {
			t.Errorf("error_log level %q: %q", level, got)
		}
	}
}
