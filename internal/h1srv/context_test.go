package h1srv

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type ctxKey struct{}

func TestRequestContext(t *testing.T) {
	base := context.WithValue(context.Background(), ctxKey{}, "v")

	t.Run("values and no deadline", func(t *testing.T) {
		ctx := newRequestContext(base)
		if got := ctx.Value(ctxKey{}); got != "v" {
			t.Errorf("Value = %v, want the base's", got)
		}
		if _, ok := ctx.Deadline(); ok {
			t.Error("Deadline set, want none")
		}
	})

	t.Run("Done asked for before the cancel", func(t *testing.T) {
		ctx := newRequestContext(base)
		done := ctx.Done()
		select {
		case <-done:
			t.Fatal("Done closed before the cancel")
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("Err = %v before the cancel", ctx.Err())
		}
		ctx.cancel()
		<-done
		if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), context.Canceled) {
			t.Errorf("Err = %v, Cause = %v; want context.Canceled", ctx.Err(), context.Cause(ctx))
		}
		ctx.cancel() // a second cancel does nothing
	})

	t.Run("Done asked for after the cancel", func(t *testing.T) {
		ctx := newRequestContext(base)
		ctx.cancel()
		<-ctx.Done()
	})

	t.Run("AfterFunc runs once canceled, unless stopped", func(t *testing.T) {
		ctx := newRequestContext(base)
		ran := make(chan int, 3)
		stop1 := ctx.AfterFunc(func() { ran <- 1 })
		stop2 := ctx.AfterFunc(func() { ran <- 2 })
		stop3 := ctx.AfterFunc(func() { ran <- 3 })
		if !stop2() {
			t.Error("stop of a registered function = false")
		}
		if stop2() {
			t.Error("a second stop = true")
		}
		ctx.cancel()
		got := map[int]bool{<-ran: true, <-ran: true}
		if !got[1] || !got[3] {
			t.Errorf("ran %v, want 1 and 3", got)
		}
		if stop1() || stop3() {
			t.Error("stop after the functions started = true")
		}
		select {
		case n := <-ran:
			t.Errorf("function %d ran after being stopped", n)
		case <-time.After(20 * time.Millisecond):
		}
	})

	t.Run("AfterFunc on a canceled context runs at once", func(t *testing.T) {
		ctx := newRequestContext(base)
		ctx.cancel()
		ran := make(chan struct{})
		if stop := ctx.AfterFunc(func() { close(ran) }); stop() {
			t.Error("stop = true for a function already started")
		}
		<-ran
	})

	t.Run("children and context.AfterFunc", func(t *testing.T) {
		ctx := newRequestContext(base)
		child, cancelChild := context.WithTimeout(ctx, time.Hour)
		defer cancelChild()
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		ctx.cancel()
		<-child.Done()
		<-ran
		if !errors.Is(child.Err(), context.Canceled) {
			t.Errorf("child's Err = %v, want context.Canceled", child.Err())
		}
	})

	t.Run("a child canceled first unregisters itself", func(t *testing.T) {
		ctx := newRequestContext(base)
		_, cancelChild := context.WithCancel(ctx)
		cancelChild()
		ctx.mu.Lock()
		n := len(ctx.funcs)
		ctx.mu.Unlock()
		if n != 0 {
			t.Errorf("%d functions still registered after the child's cancel", n)
		}
	})
}

// TestRequestContextConcurrent races cancel against AfterFunc, stop and
// Done, for the race detector; every function runs or is stopped.
func TestRequestContextConcurrent(t *testing.T) {
	for range 100 {
		ctx := newRequestContext(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		ran, stopped := 0, 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := make(chan struct{})
				stop := ctx.AfterFunc(func() {
					mu.Lock()
					ran++
					mu.Unlock()
					close(done)
				})
				_ = ctx.Done()
				if stop() {
					mu.Lock()
					stopped++
					mu.Unlock()
					return
				}
				<-done
			}()
		}
		ctx.cancel()
		wg.Wait()
		if ran+stopped != 4 {
			t.Fatalf("ran %d, stopped %d: want 4 in all", ran, stopped)
		}
	}
}

// TestRequestContextReuse: a context is reusable once canceled only if
// nothing of it could be in use elsewhere, and a reset one is new: not
// canceled, its Done channel fresh, and a stop function of its earlier
// life unregisters nothing of its new one.
func TestRequestContextReuse(t *testing.T) {
	base := context.WithValue(context.Background(), ctxKey{}, "v")
	for _, tc := range []struct {
		name     string
		use      func(c *requestContext)
		reusable bool
	}{
		{"unused", func(*requestContext) {}, true},
		{"Err asked", func(c *requestContext) { _ = c.Err() }, true},
		{"Value asked", func(c *requestContext) { _ = c.Value(ctxKey{}) }, true},
		{"AfterFunc stopped", func(c *requestContext) { c.AfterFunc(func() {})() }, true},
		{"Done asked", func(c *requestContext) { _ = c.Done() }, false},
		{"AfterFunc left registered", func(c *requestContext) { c.AfterFunc(func() {}) }, false},
		{"a child context", func(c *requestContext) {
			_, cancel := context.WithCancel(c)
			cancel()
		}, false}, // the context package asks for Done
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRequestContext(base)
			if c.reusable() {
				t.Fatal("reusable before its cancel")
			}
			tc.use(c)
			c.cancel()
			if got := c.reusable(); got != tc.reusable {
				t.Fatalf("reusable = %v, want %v", got, tc.reusable)
			}
		})
	}

	c := newRequestContext(base)
	oldStop := c.AfterFunc(func() { t.Error("a stopped function ran") })
	if !oldStop() {
		t.Fatal("stop = false")
	}
	c.cancel()
	c.reset(base)
	if c.Err() != nil || c.reusable() {
		t.Fatalf("reset context: Err = %v, reusable before its cancel = %v", c.Err(), c.reusable())
	}
	ran := make(chan struct{})
	c.AfterFunc(func() { close(ran) })
	if oldStop() {
		t.Error("the earlier life's stop unregistered the new function")
	}
	done := c.Done()
	select {
	case <-done:
		t.Fatal("the reset context's Done is closed")
	default:
	}
	c.cancel()
	<-done
	<-ran
	if got := c.Value(ctxKey{}); got != "v" {
		t.Errorf("Value = %v, want the base's", got)
	}
}
