package h1

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// deadlineConn is a net.Conn that accepts every write and records its
// write deadline.
type deadlineConn struct {
	net.Conn // nil: only the methods below are called

	mu    sync.Mutex // guards wd and calls
	wd    time.Time
	calls int
}

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	c.calls++
	return nil
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

func (c *deadlineConn) state() (time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wd, c.calls
}

func TestWriteTimeoutConnIsLazy(t *testing.T) {
	fc := &deadlineConn{}
	c := NewWriteTimeoutConn(fc, time.Minute)
	start := time.Now()
	for range 100 {
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	wd, calls := fc.state()
	if calls != 1 {
		t.Errorf("%d deadline calls for 100 quick writes, want 1", calls)
	}
	if left := wd.Sub(start); left < time.Minute || left > time.Minute+deadline.MaxSlack+time.Second {
		t.Errorf("deadline %v after the first write, want a minute and a little", left)
	}

	// Other code's deadline is recorded: cleared, the next write sets it
	// again.
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if wd, calls := fc.state(); wd.IsZero() || calls != 3 {
		t.Errorf("deadline %v after %d calls, want one set again after the clear", wd, calls)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if wd, calls := fc.state(); wd.IsZero() || calls != 5 {
		t.Errorf("deadline %v after %d calls, want one set again after SetDeadline", wd, calls)
	}
}

// Writes from several goroutines share the conn's deadline; run with
// -race.
func TestWriteTimeoutConnConcurrentWrites(t *testing.T) {
	fc := &deadlineConn{}
	c := NewWriteTimeoutConn(fc, time.Minute)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				_, _ = c.Write([]byte("x"))
				_ = c.SetWriteDeadline(time.Time{})
			}
		})
	}
	wg.Wait()
}

func TestWriteTimeoutConnTimesOut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	a, b := net.Pipe()
	defer b.Close()
	c := NewWriteTimeoutConn(a, timeout)
	defer c.Close()
	start := time.Now()
	_, err := c.Write([]byte("nobody reads this")) // a pipe has no buffer
	if elapsed := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || elapsed < timeout || elapsed > 2*time.Second {
		t.Errorf("write failed after %v with %v, want a deadline error after about %v", elapsed, err, timeout)
	}
}

func TestWriteTimeoutConnNoTimeout(t *testing.T) {
	fc := &deadlineConn{}
	if c := NewWriteTimeoutConn(fc, 0); c != net.Conn(fc) {
		t.Errorf("NewWriteTimeoutConn with no timeout wrapped the conn: %T", c)
	}
}
