package h1srv

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDateClock: the Date field is the current second's; the clock
// starts on the first response, stays on while responses ask for it, and
// stops after a second in which none did. The ticks are driven by hand
// (no timer), so that no real second boundary interferes.
func TestDateClock(t *testing.T) {
	d := dateClock{manual: true}
	check := func(step, line string) {
		t.Helper()
		v, ok := strings.CutPrefix(line, "Date: ")
		v, ok2 := strings.CutSuffix(v, "\r\n")
		if !ok || !ok2 {
			t.Fatalf("%s: %q is not a Date field", step, line)
		}
		at, err := http.ParseTime(v)
		if err != nil {
			t.Fatalf("%s: %q: %v", step, line, err)
		}
		if now := time.Now(); at.After(now) || now.Sub(at) > 2*time.Second {
			t.Errorf("%s: Date %v, now %v", step, at, now)
		}
	}

	check("first response", d.Line())
	if d.line.Load() == nil || !d.used.Load() {
		t.Fatal("the first Line did not start the clock")
	}
	check("same second", d.Line())

	d.tick() // a second in which responses asked
	if d.line.Load() == nil {
		t.Fatal("the clock stopped after a second in use")
	}
	if d.used.Load() {
		t.Error("a tick did not reset used")
	}
	check("after a tick", *d.line.Load())

	d.tick() // a second in which none asked
	if d.line.Load() != nil {
		t.Fatal("the clock kept ticking after an idle second")
	}
	check("restarted", d.Line())
	if d.line.Load() == nil {
		t.Error("Line did not restart the clock")
	}
}

func TestUntilNextSecond(t *testing.T) {
	base := time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ns   int
		want time.Duration
	}{
		{0, time.Second},
		{1, time.Second - 1},
		{250_000_000, 750 * time.Millisecond},
		{999_999_999, 1},
	} {
		if got := untilNextSecond(base.Add(time.Duration(tt.ns))); got != tt.want {
			t.Errorf("untilNextSecond(+%dns) = %v, want %v", tt.ns, got, tt.want)
		}
	}
}
