package upstream

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestUnixPath(t *testing.T) {
	tests := []struct {
		addr, path string
		unix       bool
	}{
		{"unix:/run/app.sock", "/run/app.sock", true},
		{"[unix:/run/app.sock]:80", "/run/app.sock", true}, // as net/http hands it on
		{"unix:relative/a:b.sock", "relative/a:b.sock", true},
		{"127.0.0.1:8080", "", false},
		{"[::1]:80", "", false},
		{"unixhost:80", "", false},
	}
	for _, tt := range tests {
		path, unix := unixPath(tt.addr)
		if path != tt.path || unix != tt.unix {
			t.Errorf("unixPath(%q) = %q, %t; want %q, %t", tt.addr, path, unix, tt.path, tt.unix)
		}
		if IsUnix(tt.addr) != (tt.unix && tt.addr[0] != '[') {
			t.Errorf("IsUnix(%q) = %t", tt.addr, IsUnix(tt.addr))
		}
	}
}

// Dial reaches a real unix listener in both address forms, and a path
// with no listener fails as a dial error.
func TestDialUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "limpet-dial-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("x"))
			c.Close()
		}
	}()
	// A path starting with '@' is a file, as nginx reads it, not Linux's
	// abstract namespace, as Go would: it is served from the directory.
	at, err := net.Listen("unix", filepath.Join(dir, "@at.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer at.Close()
	go func() {
		for {
			c, err := at.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("x"))
			c.Close()
		}
	}()
	t.Chdir(dir)
	d := &net.Dialer{}
	for _, addr := range []string{"unix:" + path, "[unix:" + path + "]:80", "unix:@at.sock"} {
		c, err := Dial(context.Background(), d, "tcp", addr)
		if err != nil {
			t.Fatalf("Dial(%q): %v", addr, err)
		}
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
			t.Errorf("Dial(%q): read %q, %v", addr, buf, err)
		}
		if c.RemoteAddr().Network() != "unix" {
			t.Errorf("Dial(%q): network %q, want unix", addr, c.RemoteAddr().Network())
		}
		c.Close()
	}
	_, err = Dial(context.Background(), d, "tcp", "unix:"+filepath.Join(dir, "none.sock"))
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("dialling a missing socket: %v, want a dial *net.OpError", err)
	}
}
