package config

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		sec  bool // seconds mode (sticky expires=, fail_timeout=)
		want time.Duration
		ok   bool
	}{
		{"0", false, 0, true},
		{"30", false, 30 * time.Second, true}, // a bare number is seconds
		{"30", true, 30 * time.Second, true},
		{"500ms", false, 500 * time.Millisecond, true},
		{"30s", false, 30 * time.Second, true},
		{"5m", false, 5 * time.Minute, true},
		{"1h", false, time.Hour, true},
		{"1d", false, day, true},
		{"1w", false, 7 * day, true},
		{"1M", true, 30 * day, true},
		{"1y", true, 365 * day, true},
		{"1y2M3w4d5h6m7s", true, 365*day + 60*day + 21*day + 4*day + 5*time.Hour + 6*time.Minute + 7*time.Second, true},
		{"1h30m", false, 90 * time.Minute, true},
		{"1h 30m", false, 90 * time.Minute, true},
		{"1h  30m  ", false, 90 * time.Minute, true},
		{"1h30", false, time.Hour + 30*time.Second, true}, // trailing digits are seconds
		{"1s500ms", false, 1500 * time.Millisecond, true},
		{"007s", false, 7 * time.Second, true},
		{"30 ", false, 30 * time.Second, true},

		{"", false, 0, false},
		{"s", false, 0, false},
		{"h", false, 0, false},
		{"-1s", false, 0, false},
		{"1.5s", false, 0, false},
		{"1x", false, 0, false},
		{"1S", false, 0, false},
		{"1H", false, 0, false},
		{"1s1s", false, 0, false},
		{"1m1h", false, 0, false},                // units must decrease
		{"1ms1s", false, 0, false},               // ms is the smallest
		{"500ms", true, 0, false},                // no ms in seconds mode
		{"1M", false, 0, false},                  // no months in milliseconds mode, as in nginx
		{"1y", false, 0, false},                  // no years in milliseconds mode
		{"30 s", false, 0, false},                // a spaced bare number ends the value
		{" 30s", false, 0, false},                // leading space as nginx: a bare "number" first
		{"1 2", false, 3 * time.Second, true},    // nginx adds up bare numbers
		{"9999999999999999999", false, 0, false}, // int64 overflow
		{"300y", true, 0, false},                 // time.Duration overflow
	}
	for _, tt := range tests {
		name := tt.in
		if tt.sec {
			name += "/sec"
		}
		t.Run(name, func(t *testing.T) {
			got, ok := parseTime(tt.in, tt.sec)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseTime(%q, %t) = %v, %t; want %v, %t", tt.in, tt.sec, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1024", 1024, true},
		{"8k", 8 << 10, true},
		{"8K", 8 << 10, true},
		{"1m", 1 << 20, true},
		{"1M", 1 << 20, true},
		{"1g", 1 << 30, true},
		{"1G", 1 << 30, true},
		{"", 0, false},
		{"k", 0, false},
		{"1t", 0, false},
		{"1kb", 0, false},
		{"-1", 0, false},
		{"1.5m", 0, false},
		{" 1m", 0, false},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false},
		{"9000000000g", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseSize(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"007", 7, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1e3", 0, false}, {"4294967296", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseInt(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseInt(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0", "30", "500ms", "1h30m", "1h 30m", "1y2M3w4d5h6m7s", "1s500ms", "30 ", "1M", "9999999999999999999"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, sec bool) {
		d, ok := parseTime(s, sec)
		if !ok {
			return
		}
		if d < 0 {
			t.Fatalf("parseTime(%q, %t) = %v, negative", s, sec, d)
		}
		// A bare number is seconds in both modes.
		if n, err := strconv.ParseUint(s, 10, 63); err == nil && d != time.Duration(n)*time.Second {
			t.Fatalf("parseTime(%q, %t) = %v, want %d seconds", s, sec, d, n)
		}
		if sec && d%time.Second != 0 {
			t.Fatalf("parseTime(%q, true) = %v, not whole seconds", s, d)
		}
		// A value in seconds reads the same in milliseconds mode, where
		// it is not refused for using y or M.
		if sec && !strings.ContainsAny(s, "yM") {
			if d2, ok := parseTime(s, false); !ok || d2 != d {
				t.Fatalf("parseTime(%q, true) = %v, but parseTime(%q, false) = %v, %t", s, d, s, d2, ok)
			}
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1024", "8k", "1M", "1g", "k", "9223372036854775807", "9000000000g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseSize(s)
		if ok && n < 0 {
			t.Fatalf("parseSize(%q) = %d, negative", s, n)
		}
		if want, err := strconv.ParseInt(s, 10, 64); err == nil && s[0] != '+' && s[0] != '-' && (!ok || n != want) {
			t.Fatalf("parseSize(%q) = %d, %t; want %d", s, n, ok, want)
		}
		// A suffix multiplies the number by its power of 1024, or is
		// refused on overflow.
		if num, isNum := parseNumber(s); isNum {
			for _, u := range []struct {
				suffix string
				scale  int64
			}{{"k", 1 << 10}, {"M", 1 << 20}, {"g", 1 << 30}} {
				got, ok := parseSize(s + u.suffix)
				if fits := num <= math.MaxInt64/u.scale; ok != fits || fits && got != num*u.scale {
					t.Fatalf("parseSize(%q) = %d, %t; %q is %d", s+u.suffix, got, ok, s, num)
				}
			}
		}
	})
}
