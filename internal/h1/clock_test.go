package h1

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/deadline"
)

// TestForwardNow: the transport takes Forward.Now for the attempt's start,
// by which a pooled connection's idle time is counted, unless it carries
// no monotonic clock reading (a fixed clock's), which would put the
// request's deadlines anywhere.
func TestForwardNow(t *testing.T) {
	tests := []struct {
		name  string
		now   func() time.Time
		conns int32 // connections made for two requests
	}{
		{"none", func() time.Time { return time.Time{} }, 1},
		{"time.Now", time.Now, 1},
		{"past the idle timeout", func() time.Time { return time.Now().Add(DefaultIdleTimeout + time.Second) }, 2},
		{"no monotonic reading", func() time.Time { return time.Unix(1e9, 0) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := quietServer(t, quietResponse)
			tr := New(proxyOptions)
			defer tr.CloseIdleConnections()
			req, fwd := quietRequest(t, s)
			for range 2 {
				fwd.Now = tt.now()
				res, err := tr.RoundTripForward(context.Background(), req, fwd)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(res.Body)
				if err != nil || string(b) != "hello world" {
					t.Fatalf("body %q, %v", b, err)
				}
			}
			if n := s.conns.Load(); n != tt.conns {
				t.Errorf("%d connections, want %d", n, tt.conns)
			}
		})
	}
}

// TestExtendSince: a deadline moved from a reading of the clock taken a
// moment ago is never earlier than the current time plus the timeout,
// as long as the reading is less than staleMargin old, and is late by at
// most deadline.Lazy's slack.
func TestExtendSince(t *testing.T) {
	at := time.Now()
	const age = staleMargin / 2 // how old the reading is
	current := at.Add(age)
	tests := []struct {
		name    string
		timeout time.Duration
		inPlace time.Duration // the deadline in place, from at; 0: none
		want    time.Duration // the deadline after, from at; -1: none
		set     bool          // set was called
	}{
		{"none in place", time.Minute, 0, time.Minute + deadline.MaxSlack, true},
		{"in place, far enough from the current time", time.Minute, staleMargin + time.Minute, staleMargin + time.Minute, false},
		{"in place, at the latest", time.Minute, time.Minute + deadline.MaxSlack, time.Minute + deadline.MaxSlack, false},
		// ExtendAt(at) would keep it, and it would be early by age.
		{"in place, too close to the current time", time.Minute, time.Minute + age/2, time.Minute + deadline.MaxSlack, true},
		{"in place, too far", time.Minute, time.Hour, time.Minute + deadline.MaxSlack, true},
		{"160ms", 160 * time.Millisecond, 0, 170 * time.Millisecond, true},
		{"short timeout: the clock read afresh", 48 * time.Millisecond, 0, age + 51*time.Millisecond, true},
		{"no timeout", 0, time.Minute, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d deadline.Lazy
			var got time.Time
			called := false
			set := func(dl time.Time) error { called, got = true, dl; return nil }
			if tt.inPlace > 0 {
				_ = d.Set(set, at.Add(tt.inPlace))
				got = at.Add(tt.inPlace)
			}
			called = false
			if err := extendSince(&d, set, at, tt.timeout, func() time.Time { return current }); err != nil {
				t.Fatal(err)
			}
			if called != tt.set {
				t.Errorf("set called: %v, want %v", called, tt.set)
			}
			switch {
			case tt.want < 0:
				if !got.IsZero() {
					t.Errorf("deadline %v, want none", got.Sub(at))
				}
				return
			case !got.Equal(at.Add(tt.want)):
				t.Errorf("deadline at+%v, want at+%v", got.Sub(at), tt.want)
			}
			if got.Before(current.Add(tt.timeout)) {
				t.Errorf("deadline at+%v is early: the timeout ends at at+%v", got.Sub(at), current.Add(tt.timeout).Sub(at))
			}
			if late := got.Sub(current.Add(tt.timeout)); late > deadline.Slack(tt.timeout) {
				t.Errorf("deadline at+%v is %v late, more than the slack %v", got.Sub(at), late, deadline.Slack(tt.timeout))
			}
		})
	}
}

// TestStaleReadingNotReused: the attempt's start serves the first write's
// deadline only while nothing has blocked; a request body the client is
// slow to send makes the write read the clock afresh, and a send timeout
// counted from the attempt's start would have cut it short.
func TestStaleReadingNotReused(t *testing.T) {
	t.Parallel()
	const timeout = staleMin // the shortest the attempt's start is used for
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, string(b))
	})
	tr := New(Options{WriteTimeout: timeout})
	defer tr.CloseIdleConnections()
	// The body's first read takes longer than the send timeout and its
	// slack together: its bytes, and the request's head with them, are
	// written after it.
	body := &slowBody{r: strings.NewReader("payload"), wait: 2 * timeout}
	req := newRequest(t, context.Background(), "POST", s.URL+"/", body)
	req.ContentLength = int64(len("payload"))
	fwd := &Forward{Client: http.Header{}, Now: time.Now()}
	res, err := tr.RoundTripForward(context.Background(), req, fwd)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil || string(b) != "payload" {
		t.Fatalf("body %q, %v; want the payload echoed", b, err)
	}
}

// slowBody is a request body whose first read waits, as a client's slow
// upload does.
type slowBody struct {
	r      io.Reader
	wait   time.Duration
	waited bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.waited {
		b.waited = true
		time.Sleep(b.wait)
	}
	return b.r.Read(p)
}
