package limit

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// step is one request of a bucket test: its time after the start, and
// what the limiter must answer.
type step struct {
	at      int64 // ms
	want    Outcome
	delayMs int64
}

// TestBucket runs nginx's leaky bucket on a fake clock. The expectations
// are nginx's arithmetic: excess in thousandths of a request, each
// request adding 1000, the rate draining rate*ms/1000 since the last,
// floored at zero after the request is added; beyond burst rejected,
// beyond the delay threshold delayed by (excess-delay)*1000/rate ms.
func TestBucket(t *testing.T) {
	tests := []struct {
		name  string
		rate  int64 // thousandths of a request per second
		burst int64
		delay int64
		steps []step
	}{
		{"burst 0: the second at once is rejected, the rate lets the next pass", 2000, 0, 0, []step{
			{0, Passed, 0},
			{0, Rejected, 0},
			// The rejected one was not counted: 500ms drain the first.
			{500, Passed, 0},
			{700, Rejected, 0},
			{1000, Passed, 0},
		}},
		{"burst 1 nodelay: two at once pass, the third is rejected", 2000, 1, NoDelay, []step{
			{0, Passed, 0},
			{0, Passed, 0},
			{0, Rejected, 0},
			{250, Rejected, 0}, // the kept excess is 1000 (rejects are not stored): 1000-500+1000 > 1000
			{500, Passed, 0},   // 1000-1000+1000
		}},
		{"burst 5 without nodelay: excess requests wait for the rate", 2000, 5, 0, []step{
			{0, Passed, 0},
			{0, Delayed, 500},
			{0, Delayed, 1000},
			{100, Delayed, 1400}, // 2000-200+1000 = 2800
			{100, Delayed, 1900},
			{100, Delayed, 2400},
			{100, Rejected, 0}, // 5800+1000 > 5000
		}},
		{"delay=1 burst=2: two stages, as nginx-tests' limit_req_delay", 500, 2, 1, []step{
			{0, Passed, 0},
			{0, Passed, 0},     // excess 1.000, at the threshold
			{0, Delayed, 2000}, // (2000-1000)*1000/500
			{0, Rejected, 0},
		}},
		{"1r/m is 16 thousandths: a minute is not quite enough", 16, 0, 0, []step{
			{0, Passed, 0},
			{100, Rejected, 0},
			{60000, Rejected, 0}, // 0-960+1000 = 40
			{62500, Passed, 0},   // 0-1000+1000
		}},
		{"the drain is lost to millisecond rounding, as in nginx", 16, 1, NoDelay, []step{
			{0, Passed, 0},
			{50, Passed, 0},    // 16*50/1000 = 0 drained, excess 1000, last moves to 50
			{100, Rejected, 0}, // again 0 drained: 2000 > 1000
		}},
		{"a fast rate drains below zero: the next request is not delayed", 1000000, 1, 0, []step{
			{0, Passed, 0},
			{100, Passed, 0},
			{100, Delayed, 1}, // excess 1000 at 1000 r/s: 1ms
		}},
		{"a clock that goes back counts as no time", 1000, 0, 0, []step{
			{5000, Passed, 0},
			{4000, Rejected, 0},
			{6000, Passed, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			z, err := NewRequestZone("one", vars.MustCompile("$binary_remote_addr"), 1<<20, tt.rate, epoch)
			if err != nil {
				t.Fatal(err)
			}
			l, err := NewRequests([]Rule{{Zone: z, Burst: tt.burst, Delay: tt.delay}},
				RequestOptions{Options: Options{Now: clk.now, Log: slog.New(slog.DiscardHandler)}, Status: 503, Level: slog.LevelError})
			if err != nil {
				t.Fatal(err)
			}
			vr := request("/", "127.0.0.1:1234")
			for i, s := range tt.steps {
				clk.at(s.at)
				d := l.Check(vr)
				want := Decision{Outcome: s.want, Delay: time.Duration(s.delayMs) * time.Millisecond}
				if s.want == Rejected {
					want.Status = 503
				}
				if d != want {
					t.Fatalf("request %d at %dms: %+v, want %+v", i+1, s.at, d, want)
				}
			}
		})
	}
}

// newRequests compiles rules with a fake clock and a log into buf.
func newRequests(t *testing.T, clk *clock, buf *logBuffer, o RequestOptions, rules ...Rule) *Requests {
	t.Helper()
	o.Now, o.Log = clk.now, buf.logger()
	if o.Status == 0 {
		o.Status = 503
	}
	l, err := NewRequests(rules, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newZone(t *testing.T, name, key string, size, rate int64) *RequestZone {
	t.Helper()
	z, err := NewRequestZone(name, vars.MustCompile(key), size, rate, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestRejectsNotCounted checks nginx's two steps over several zones: a
// request the second zone rejects is charged to neither (nginx-tests'
// limit_req2 shape).
func TestRejectsNotCounted(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	a := newZone(t, "a", "a", 1<<20, 16)
	b := newZone(t, "b", "$arg_b", 1<<20, 16)
	l := newRequests(t, clk, buf, RequestOptions{}, Rule{Zone: a, Burst: 1, Delay: NoDelay}, Rule{Zone: b})
	steps := []struct {
		at     int64
		target string
		want   Outcome
	}{
		{0, "/?b=x", Passed},
		{1, "/?b=x", Rejected}, // b is over; a must not count it
		{2, "/", Passed},       // b's key is empty: only a, whose excess is 1 (the burst)
		{3, "/", Rejected},     // a is over now
	}
	for i, s := range steps {
		clk.at(s.at)
		if d := l.Check(request(s.target, "127.0.0.1:1")); d.Outcome != s.want {
			t.Fatalf("request %d (%s): %v, want %v", i+1, s.target, d.Outcome, s.want)
		}
	}
	mustContain(t, buf.String(), `limiting requests, excess: 1.000 by zone \"b\"`, `limiting requests, excess: 2.000 by zone \"a\"`)
}

// TestLongestDelayWins checks that of several zones the one asking for the
// longest delay decides it, and the log names that zone.
func TestLongestDelayWins(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	slow := newZone(t, "slow", "k", 1<<20, 1000)
	fast := newZone(t, "fast", "k", 1<<20, 2000)
	l := newRequests(t, clk, buf, RequestOptions{Level: slog.LevelError}, Rule{Zone: slow, Burst: 5}, Rule{Zone: fast, Burst: 5})
	vr := request("/", "127.0.0.1:1")
	if d := l.Check(vr); d.Outcome != Passed {
		t.Fatalf("first: %+v", d)
	}
	// slow: 1000 at 1r/s is 1000ms; fast: 1000 at 2r/s is 500ms.
	if d := l.Check(vr); d.Outcome != Delayed || d.Delay != time.Second {
		t.Fatalf("second: %+v, want delayed 1s", d)
	}
	mustContain(t, buf.String(), "level=WARN", `delaying request, excess: 1.000, by zone \"slow\"`)
}

// TestEmptyKey checks that a request whose key is empty is not limited,
// and its outcome is None ($limit_req_status not found).
func TestEmptyKey(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	z := newZone(t, "one", "$arg_user", 1<<20, 1000)
	l := newRequests(t, clk, buf, RequestOptions{}, Rule{Zone: z})
	for i := range 3 {
		if d := l.Check(request("/", "127.0.0.1:1")); d != (Decision{}) {
			t.Fatalf("request %d: %+v, want none", i+1, d)
		}
	}
	if n := z.Len(); n != 0 {
		t.Errorf("zone holds %d states, want 0", n)
	}
	if d := l.Check(request("/?user=u", "127.0.0.1:1")); d.Outcome != Passed {
		t.Errorf("with a key: %+v", d)
	}
}

// TestRequestLog checks the rejection's and the delay's lines: nginx's
// words, the configured level (delays one level lower), dry runs, and
// the client fields.
func TestRequestLog(t *testing.T) {
	tests := []struct {
		level    slog.Level
		dryRun   bool
		want     Outcome
		wantLogs []string
	}{
		{slog.LevelError, false, Rejected, []string{
			`level=WARN msg="delaying request, excess: 1.000, by zone \"one\""`,
			`level=ERROR msg="limiting requests, excess: 2.000 by zone \"one\"" client=192.0.2.7 server=localhost request="GET /x?a=1 HTTP/1.1" host=example.com`,
		}},
		{slog.LevelInfo, false, Rejected, []string{
			`level=INFO msg="delaying request, excess: 1.000, by zone \"one\""`,
			`level=INFO msg="limiting requests, excess: 2.000 by zone \"one\""`,
		}},
		{slog.LevelWarn, true, RejectedDryRun, []string{
			`level=INFO+2 msg="delaying request, dry run, excess: 1.000, by zone \"one\""`,
			`level=WARN msg="limiting requests, dry run, excess: 2.000 by zone \"one\""`,
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.level, tt.dryRun), func(t *testing.T) {
			clk, buf := newClock(), &logBuffer{}
			z := newZone(t, "one", "$binary_remote_addr", 1<<20, 1000)
			l := newRequests(t, clk, buf, RequestOptions{Level: tt.level, DryRun: tt.dryRun, Status: 429}, Rule{Zone: z, Burst: 1})
			vr := request("/x?a=1", "192.0.2.7:40000") // httptest's host is example.com
			outcomes := []Outcome{Passed, Delayed, tt.want}
			if tt.dryRun {
				outcomes[1] = DelayedDryRun
			}
			for i, want := range outcomes {
				d := l.Check(vr)
				if d.Outcome != want {
					t.Fatalf("request %d: %+v, want %v", i+1, d, want)
				}
				if want == Rejected && d.Status != 429 {
					t.Errorf("status %d, want 429", d.Status)
				}
				if want == DelayedDryRun && d.Delay != 0 {
					t.Errorf("dry run delays by %v", d.Delay)
				}
			}
			mustContain(t, buf.String(), tt.wantLogs...)
		})
	}
}

// TestZoneBounded sends many distinct keys through a small zone: it never
// holds more states than its size allows, the newest key is kept, and
// every request passes (the oldest states are freed, not the new key
// refused).
func TestZoneBounded(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	const size = 64 << 10 // 1024 states
	z := newZone(t, "one", "$arg_k", size, 1000)
	l := newRequests(t, clk, buf, RequestOptions{}, Rule{Zone: z})
	for i := range 20000 {
		clk.at(int64(i))
		if d := l.Check(request(fmt.Sprintf("/?k=%d", i), "127.0.0.1:1")); d.Outcome != Passed {
			t.Fatalf("key %d: %+v", i, d)
		}
		if i%1000 == 0 && z.Len() > size/64 {
			t.Fatalf("after %d keys the zone holds %d states, more than %d", i+1, z.Len(), size/64)
		}
	}
	if n := z.Len(); n > size/64 || n < size/64/2 {
		t.Errorf("zone holds %d states, want at most %d and most of it used", n, size/64)
	}
	// The newest key is known: a second request at once is rejected.
	if d := l.Check(request("/?k=19999", "127.0.0.1:1")); d.Outcome != Rejected {
		t.Errorf("the newest key was forgotten: %+v", d)
	}
	if strings.Contains(buf.String(), "could not allocate") {
		t.Errorf("a new key was refused: %s", buf.String())
	}
}

// TestLeastRecentlyUsedFreed fills one shard and checks that the state
// freed for a new key is the least recently used one, a request counting
// as a use.
func TestLeastRecentlyUsedFreed(t *testing.T) {
	z := newZone(t, "one", "k", minSize(), 1000)
	sh := &z.t.shards[0]
	per := int(sh.budget / StateCost(4))
	keys := keysInShard(z.t, 0, per+1)
	for i, k := range keys[:per] {
		if res, _, _ := z.lookup([]byte(k), int64(i), 0, true); res != lookupOK {
			t.Fatalf("key %d: %v", i, res)
		}
	}
	// Use the oldest again: the second oldest becomes the least recent.
	z.lookup([]byte(keys[0]), int64(per), 0, true)
	if res, _, _ := z.lookup([]byte(keys[per]), int64(per+1), 0, true); res != lookupOK {
		t.Fatalf("new key: %v", res)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.get([]byte(keys[0])) == nil {
		t.Error("the recently used key was freed")
	}
	if sh.get([]byte(keys[1])) != nil {
		t.Error("the least recently used key was kept")
	}
	if sh.len() != per {
		t.Errorf("shard holds %d states, want %d", sh.len(), per)
	}
}

// TestIdleStatesExpire checks nginx's expiry: a new key frees old states
// idle for a minute and drained, even when the zone has room.
func TestIdleStatesExpire(t *testing.T) {
	z := newZone(t, "one", "k", minSize(), 1000)
	keys := keysInShard(z.t, 0, 4)
	z.lookup([]byte(keys[0]), 0, 0, true)
	z.lookup([]byte(keys[1]), 0, 0, true)
	z.lookup([]byte(keys[2]), 59999, 0, true)
	z.lookup([]byte(keys[3]), 60000, 0, true) // frees keys[0] and [1], idle a minute
	sh := &z.t.shards[0]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.len() != 2 || sh.get([]byte(keys[2])) == nil || sh.get([]byte(keys[3])) == nil {
		t.Errorf("shard holds %d states, want keys 2 and 3 only", sh.len())
	}
}

// TestCouldNotAllocate fills a shard with pinned states, which cannot be
// freed: a new key there is answered with the limit's status and logged
// as nginx logs it.
func TestCouldNotAllocate(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	z := newZone(t, "one", "$arg_k", minSize(), 1000)
	sh := &z.t.shards[0]
	per := int(sh.budget / StateCost(4))
	keys := keysInShard(z.t, 0, per+1)
	for _, k := range keys[:per] {
		if res, _, _ := z.lookup([]byte(k), 0, 0, false); res != lookupPinned {
			t.Fatalf("pin %s: %v", k, res)
		}
	}
	l := newRequests(t, clk, buf, RequestOptions{Status: 429}, Rule{Zone: z})
	d := l.Check(request("/?k="+keys[per], "127.0.0.1:1"))
	if d.Outcome != Rejected || d.Status != 429 {
		t.Fatalf("%+v, want rejected with 429", d)
	}
	mustContain(t, buf.String(), `level=ERROR msg="could not allocate node in limit_req zone \"one\""`)
}

// minSize is nginx's smallest zone.
func minSize() int64 { return 32 << 10 }

// TestRequestsConcurrent runs checks from many goroutines over few keys,
// for the race detector, and checks the total: with burst 0, nodelay and
// a clock that does not move, each key passes exactly once.
func TestRequestsConcurrent(t *testing.T) {
	clk, buf := newClock(), &logBuffer{}
	a := newZone(t, "a", "$arg_k", 1<<20, 1000)
	b := newZone(t, "b", "$arg_k", 1<<20, 1000)
	l := newRequests(t, clk, buf, RequestOptions{Level: slog.LevelInfo}, Rule{Zone: a, Delay: NoDelay}, Rule{Zone: b, Delay: NoDelay})
	const keys, per = 8, 50
	passed := make(chan int, keys*per)
	done := make(chan struct{})
	for g := range keys * 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			vr := request(fmt.Sprintf("/?k=%d", g%keys), "127.0.0.1:1")
			for range per / 4 {
				if l.Check(vr).Outcome == Passed {
					passed <- g % keys
				}
			}
		}()
	}
	for range keys * 4 {
		<-done
	}
	close(passed)
	count := map[int]int{}
	for k := range passed {
		count[k]++
	}
	for k := range keys {
		if count[k] != 1 {
			t.Errorf("key %d passed %d times, want 1", k, count[k])
		}
	}
}

// TestKeyLargerThanAShard: a key costlier than a shard's budget is
// refused as a full zone refuses, without freeing the states of the
// shard's other clients first (which would reset their limits).
func TestKeyLargerThanAShard(t *testing.T) {
	z := newZone(t, "one", "k", minSize(), 1000)
	sh := &z.t.shards[0]
	keys := keysInShard(z.t, 0, 20)
	for i, k := range keys {
		if res, _, _ := z.lookup([]byte(k), int64(i), 0, true); res != lookupOK {
			t.Fatalf("key %d: %v", i, res)
		}
	}
	var long []byte
	for i := 0; long == nil; i++ {
		k := []byte(fmt.Sprintf("%d%s", i, strings.Repeat("x", int(sh.budget))))
		if z.t.shardOf(k) == sh {
			long = k
		}
	}
	if res, _, _ := z.lookup(long, 100, 0, true); res != lookupFull {
		t.Errorf("a key over the shard's budget: %v, want refused as a full zone", res)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.len() != len(keys) {
		t.Errorf("the shard holds %d states after it, want its %d", sh.len(), len(keys))
	}
}
