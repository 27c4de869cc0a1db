package limit

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/vars"
)

// epoch is the fake clock's time zero.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a fake clock, read by the limiters and moved by the test.
type clock struct {
	mu sync.Mutex // guards t: benchmarks read it from many goroutines
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// at sets the clock to ms milliseconds after epoch.
func (c *clock) at(ms int64) {
	c.mu.Lock()
	c.t = epoch.Add(time.Duration(ms) * time.Millisecond)
	c.mu.Unlock()
}

// logBuffer collects log lines, for asserting them.
type logBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger returns a logger into b that keeps every level, without times.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// request returns the variables of a GET of target from client.
func request(target, client string) *vars.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	return &vars.Request{R: r, Remote: netip.MustParseAddrPort(client), ServerName: "localhost"}
}

// keysInShard returns n keys that all fall in shard i of t.
func keysInShard[S any](t *table[S], i, n int) []string {
	var keys []string
	for k := 0; len(keys) < n; k++ {
		key := "key" + strconv.Itoa(k)
		if t.shardOf([]byte(key)) == &t.shards[i] {
			keys = append(keys, key)
		}
	}
	return keys
}

// mustContain fails unless log holds every one of want.
func mustContain(t *testing.T, log string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}
