package proxy

import (
	"testing"
	"time"
)

// rateLimit follows nginx's write filter: after limit_rate_after bytes,
// at most rate × (elapsed + 1s) bytes, with the wait until more may go.
func TestRateLimitGrant(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		at   time.Duration // since t0
		ask  int
		sent int // bytes granted, which the caller sends
		wait time.Duration
	}
	tests := []struct {
		name        string
		rate, after int64
		steps       []step
	}{
		{"a second's worth at once, then waits", 1000, 0, []step{
			{0, 4000, 1000, 0},
			{0, 3000, 0, 100 * time.Millisecond},
			{100 * time.Millisecond, 3000, 100, 0},
			{time.Second, 3000, 900, 0},
			{1500 * time.Millisecond, 3000, 500, 0},
			{1500 * time.Millisecond, 3000, 0, 100 * time.Millisecond},
			{1550 * time.Millisecond, 3000, 0, 50 * time.Millisecond},
			{1600 * time.Millisecond, 30, 30, 0},
			{1600 * time.Millisecond, 100, 0, 30 * time.Millisecond},
		}},
		{"limit_rate_after goes unpaced", 1000, 2500, []step{
			{0, 4000, 2500, 0},
			{0, 4000, 1000, 0},
			{0, 10, 0, 10 * time.Millisecond},
		}},
		{"the limit counts from the first paced byte", 1000, 100, []step{
			{0, 100, 100, 0},
			{10 * time.Second, 5000, 1000, 0},
			{10 * time.Second, 5000, 0, 100 * time.Millisecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &rateLimit{rate: tt.rate, after: tt.after}
			for i, s := range tt.steps {
				n, wait := l.grant(s.ask, t0.Add(s.at))
				if n != s.sent || wait != s.wait {
					t.Fatalf("step %d: grant(%d) at %v = %d, %v; want %d, %v", i, s.ask, s.at, n, wait, s.sent, s.wait)
				}
				l.sent += int64(n)
			}
		})
	}
}

// A `set $limit_rate` value is read as nginx's ngx_parse_size reads it.
func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"100", 100, true}, {"8k", 8 << 10, true}, {"8K", 8 << 10, true}, {"2m", 2 << 20, true}, {"0", 0, true},
		{"", 0, false}, {"k", 0, false}, {"1g", 0, false}, {"-1", 0, false}, {"+5", 0, false}, {"1.5k", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseRate(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("parseRate(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
