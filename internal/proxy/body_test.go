package proxy

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReplayBody(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		firstRead  int  // bytes the first attempt reads before failing
		wantReplay bool // a second attempt is possible
	}{
		{"nothing read", "hello", 0, true},
		{"part read", "hello world", 5, true},
		{"all read", "hello", 5, true},
		{"read to the limit", strings.Repeat("x", replayLimit), replayLimit, true},
		{"read past the limit", strings.Repeat("x", replayLimit+10), replayLimit + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &replayBody{src: strings.NewReader(tt.body)}
			first, ok := b.attempt()
			if !ok {
				t.Fatal("the first attempt must always be possible")
			}
			if _, err := io.ReadFull(first, make([]byte, tt.firstRead)); err != nil {
				t.Fatalf("first read: %v", err)
			}
			second, ok := b.attempt()
			if ok != tt.wantReplay {
				t.Fatalf("replay possible = %v, want %v", ok, tt.wantReplay)
			}
			if !ok {
				return
			}
			got, err := io.ReadAll(second)
			if err != nil || string(got) != tt.body {
				t.Errorf("second attempt read %d bytes (%v), want the whole body of %d", len(got), err, len(tt.body))
			}
			// The abandoned attempt reads nothing more.
			if n, err := first.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBodyReplaced) {
				t.Errorf("old attempt read %d, %v; want 0, errBodyReplaced", n, err)
			}
		})
	}
}

// Closing a view must not close the client's body: the transport closes
// bodies of failed attempts, and the next attempt still needs it.
func TestReplayBodyCloseKeepsSource(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader("data")}
	b := &replayBody{src: src}
	v, _ := b.attempt()
	_ = v.Close()
	if src.closed {
		t.Error("a view's Close closed the client's body")
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }
