package accesslog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppendJSON(t *testing.T) {
	at := time.Date(2026, 11, 26, 19, 40, 1, 512_000_000, time.UTC)
	tests := []struct {
		name  string
		entry Entry
		want  string
	}{
		{"proxied with persistence", Entry{Time: at, Client: "127.0.0.1", Host: "lb", Method: "GET", URI: "/", Proto: "HTTP/1.1",
			Status: 200, Bytes: 43, RequestTime: 2 * time.Millisecond, Upstream: "127.0.0.1:9001, 127.0.0.1:9002",
			UpstreamStatus: "502, 200", UpstreamTime: time.Millisecond, Sticky: "reassigned/server_failed", UserAgent: "curl/8"},
			`{"time":"2026-11-26T19:40:01.512Z","client":"127.0.0.1","host":"lb","method":"GET","uri":"/","proto":"HTTP/1.1","status":200,"bytes":43,"request_time":0.002,"upstream":"127.0.0.1:9001, 127.0.0.1:9002","upstream_status":"502, 200","upstream_time":0.001,"sticky":"reassigned/server_failed","user_agent":"curl/8"}`},
		{"not proxied", Entry{Time: at, Client: "::1", Method: "GET", URI: "/health", Proto: "HTTP/1.1", Status: 200},
			`{"time":"2026-11-26T19:40:01.512Z","client":"::1","host":"","method":"GET","uri":"/health","proto":"HTTP/1.1","status":200,"bytes":0,"request_time":0.000}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendJSON(nil, &tt.entry)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// Whatever a client sends, a line stays one valid JSON object with the
// text intact: no forged fields, no broken lines.
func TestAppendJSONEscapes(t *testing.T) {
	hostile := []string{"/\"},\"status\":999,\"x\":\"", "/a\nb\r\tc", "/\x00\x1f\x7f", "/\xff\xfe", "/ünïcode/日本", `/back\slash`}
	for _, uri := range hostile {
		line := AppendJSON(nil, &Entry{URI: uri, UserAgent: uri})
		if bytes.ContainsAny(line, "\n\r") {
			t.Errorf("%q: the line contains a line break", uri)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("%q: not JSON: %v\n%s", uri, err, line)
		}
		want := string([]rune(uri)) // each invalid byte becomes U+FFFD
		if got["uri"] != want || got["status"] != float64(0) {
			t.Errorf("%q: decoded uri %q status %v, want %q and 0", uri, got["uri"], got["status"], want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("/", "curl/8")
	f.Add("/\"\\\n", "\xff")
	f.Fuzz(func(t *testing.T, uri, ua string) {
		line := AppendJSON(nil, &Entry{URI: uri, UserAgent: ua})
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("not JSON: %v\n%q", err, line)
		}
		if got["uri"] != string([]rune(uri)) {
			t.Errorf("uri %q decoded as %q", uri, got["uri"])
		}
	})
}

// Close flushes: nothing logged before a shutdown is lost.
func TestCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		l.Log(&Entry{Method: "GET", URI: "/", Status: 200})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 100 {
		t.Errorf("%d lines after Close, want 100", n)
	}
	l.Log(&Entry{}) // after Close: dropped, not a panic
}

func TestOpenError(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing", "dir", "access.log")); err == nil {
		t.Error("opening a log in a missing directory must fail")
	}
}

func BenchmarkLog(b *testing.B) {
	l := New(discard{})
	defer l.Close()
	e := &Entry{Time: time.Now(), Client: "127.0.0.1", Host: "lb", Method: "GET", URI: "/cart?id=1", Proto: "HTTP/1.1",
		Status: 200, Bytes: 512, Upstream: "127.0.0.1:9001", UpstreamStatus: "200", Sticky: "hit", UserAgent: "wrk"}
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestAppendTime compares the cached formatting of the time field with
// time's own, across seconds, milliseconds and dates, in and out of order.
func TestAppendTime(t *testing.T) {
	base := time.Date(2026, 11, 26, 23, 59, 58, 0, time.UTC)
	times := []time.Time{
		base, base.Add(999 * time.Millisecond), base.Add(time.Second), base.Add(1500 * time.Millisecond),
		base.Add(-time.Nanosecond), base.Add(2*time.Second + 7*time.Millisecond), base.Add(48 * time.Hour),
		base.In(time.FixedZone("x", 3600)), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 60_000_000, time.FixedZone("y", -7*3600)),
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z07:00")
		if got := appendTime(nil, tm); string(got) != string(want) {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// After logrotate renames the file, Reopen sends the buffered lines to the
// renamed file and the new ones to a new file at the old path.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Log(&Entry{URI: "/before"})
	rotated := filepath.Join(dir, "access.log.1")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(&Entry{URI: "/after"})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, want, not string }{
		{rotated, `"uri":"/before"`, "/after"},
		{path, `"uri":"/after"`, "/before"},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); !strings.Contains(got, f.want) || strings.Contains(got, f.not) || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: %q, want one line with %s", f.path, got, f.want)
		}
	}
	// A stream has nothing to reopen; a closed Logger stays closed.
	stream := New(&bytes.Buffer{})
	defer stream.Close()
	if err := stream.Reopen(); err != nil {
		t.Errorf("Reopen of a stream: %v", err)
	}
	if err := l.Reopen(); err != nil {
		t.Errorf("Reopen after Close: %v", err)
	}
	l.Log(&Entry{URI: "/closed"})
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "/closed") {
		t.Error("a closed Logger wrote after Reopen")
	}
}
