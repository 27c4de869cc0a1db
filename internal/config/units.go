package config

import (
	"math"
	"time"
)

// This file reads numbers, sizes and times exactly as nginx's
// src/core/ngx_parse.c does, so a value valid in nginx means the same here
// and an invalid one is refused here too.

// parseNumber reads a non-negative decimal integer like ngx_atoi: digits
// only, no sign, no white space, no overflow.
func parseNumber(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt is parseNumber bounded to int, for counts such as weight=.
func parseInt(s string) (int, bool) {
	n, ok := parseNumber(s)
	if !ok || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

// parseSize reads a size in bytes like ngx_parse_offset: a number with an
// optional k/K, m/M or g/G suffix (powers of 1024), e.g. "8k" or "1m".
func parseSize(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	scale := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		scale = 1 << 10
	case 'm', 'M':
		scale = 1 << 20
	case 'g', 'G':
		scale = 1 << 30
	}
	if scale != 1 {
		s = s[:len(s)-1]
	}
	n, ok := parseNumber(s)
	if !ok || n > math.MaxInt64/scale {
		return 0, false
	}
	return n * scale, true
}

// Units of ngx_parse_time, in seconds.
const (
	secMinute = 60
	secHour   = 60 * secMinute
	secDay    = 24 * secHour
	secWeek   = 7 * secDay
	secMonth  = 30 * secDay  // nginx's "M"
	secYear   = 365 * secDay // nginx's "y"
)

// parseTime reads a time like ngx_parse_time. Units are y (365 days), M
// (30 days), w, d, h, m, s and ms, each at most once and from the largest
// down ("1h30m", also "1h 30m"); a number without a unit is seconds, so
// "60" is a minute everywhere.
//
// sec selects nginx's two modes. Directives stored in seconds (sec true:
// sticky expires=, fail_timeout=) refuse "ms". Directives stored in
// milliseconds (sec false: proxy_read_timeout and friends) accept "ms" but
// refuse "y" and "M", as nginx does to keep milliseconds from overflowing
// on 32-bit systems; we keep the rule so a file valid here is valid there.
func parseTime(s string, sec bool) (time.Duration, bool) {
	const (
		stStart = iota
		stYear
		stMonth
		stWeek
		stDay
		stHour
		stMin
		stSec
		stMsec
		stLast
	)
	step := stStart
	if !sec {
		step = stMonth
	}
	var total time.Duration
	var value int64
	valid := false
	// add adds value units of scale to total, refusing overflow.
	add := func(scale time.Duration) bool {
		if value > int64(math.MaxInt64/scale) {
			return false
		}
		v := time.Duration(value) * scale
		if total > math.MaxInt64-v {
			return false
		}
		total += v
		value = 0
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c >= '0' && c <= '9' {
			d := int64(c - '0')
			if value > (math.MaxInt64-d)/10 {
				return 0, false
			}
			value = value*10 + d
			valid = true
			continue
		}
		var scale time.Duration
		switch c {
		case 'y':
			if step > stStart {
				return 0, false
			}
			step, scale = stYear, secYear*time.Second
		case 'M':
			if step >= stMonth {
				return 0, false
			}
			step, scale = stMonth, secMonth*time.Second
		case 'w':
			if step >= stWeek {
				return 0, false
			}
			step, scale = stWeek, secWeek*time.Second
		case 'd':
			if step >= stDay {
				return 0, false
			}
			step, scale = stDay, secDay*time.Second
		case 'h':
			if step >= stHour {
				return 0, false
			}
			step, scale = stHour, secHour*time.Second
		case 'm':
			if i < len(s) && s[i] == 's' {
				if sec || step >= stMsec {
					return 0, false
				}
				i++
				step, scale = stMsec, time.Millisecond
				break
			}
			if step >= stMin {
				return 0, false
			}
			step, scale = stMin, secMinute*time.Second
		case 's':
			if step >= stSec {
				return 0, false
			}
			step, scale = stSec, time.Second
		case ' ':
			// A bare number followed by a space counts as seconds, and
			// nothing smaller may follow.
			if step >= stSec {
				return 0, false
			}
			step, scale = stLast, time.Second
		default:
			return 0, false
		}
		if !add(scale) {
			return 0, false
		}
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	if !valid {
		return 0, false
	}
	// Trailing digits without a unit are seconds ("1h30" is 1h and 30s).
	if !add(time.Second) {
		return 0, false
	}
	return total, true
}
