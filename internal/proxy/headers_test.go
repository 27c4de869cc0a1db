package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

func TestRemoveHopHeaders(t *testing.T) {
	h := http.Header{
		"Connection":        {"keep-alive, X-Private", "Upgrade"},
		"X-Private":         {"secret"},
		"Keep-Alive":        {"timeout=5"},
		"Proxy-Connection":  {"keep-alive"},
		"Te":                {"trailers"},
		"Trailer":           {"X-Sum"},
		"Transfer-Encoding": {"chunked"},
		"Upgrade":           {"websocket"},
		"Proxy-Authorization": {
			"Basic eA=="},
		"X-Kept":     {"1"},
		"Set-Cookie": {"a=1", "b=2"},
	}
	removeHopHeaders(h)
	want := http.Header{"X-Kept": {"1"}, "Set-Cookie": {"a=1", "b=2"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("after removal: %v, want %v", h, want)
	}
}

func TestUpgradeType(t *testing.T) {
	tests := []struct {
		h    http.Header
		want string
	}{
		{http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{http.Header{"Upgrade": {"websocket"}}, ""}, // Upgrade without Connection: upgrade is not a request to upgrade
		{http.Header{"Connection": {"close"}}, ""},
	}
	for _, tt := range tests {
		if got := upgradeType(tt.h); got != tt.want {
			t.Errorf("upgradeType(%v) = %q, want %q", tt.h, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	live := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name string
		r    *http.Request
		err  error
		want failure
	}{
		{"refused", live, dialErr, failure{cond: config.NextError, status: 502, serverFault: true, sent: false}},
		{"reset", live, readErr, failure{cond: config.NextError, status: 502, serverFault: true, sent: true}},
		{"timeout", live, context.DeadlineExceeded, failure{cond: config.NextTimeout, status: 504, serverFault: true, sent: true}},
		{"client gone", gone, context.Canceled, failure{status: StatusClientClosed}},
		{"body too large", live, &http.MaxBytesError{Limit: 10}, failure{status: 413}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.r, tt.err); got != tt.want {
				t.Errorf("classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatusCountsAsFailure(t *testing.T) {
	next := config.NextError | config.NextHTTP502 | config.NextHTTP404
	tests := []struct {
		status int
		want   bool
	}{
		{502, true},  // listed
		{503, false}, // not listed
		{404, false}, // listed, but 403 and 404 never count against a server
		{200, false},
	}
	for _, tt := range tests {
		if got := statusCountsAsFailure(statusCondition(tt.status), next); got != tt.want {
			t.Errorf("status %d counts = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	writeError(w, http.StatusBadGateway)
	want := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>limpet</center>\r\n</body>\r\n</html>\r\n"
	if w.Code != 502 || w.Body.String() != want || w.Header().Get("Content-Type") != "text/html" {
		t.Errorf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	writeError(w, StatusClientClosed)
	if w.Body.Len() != 0 {
		t.Error("nothing is sent to a client that is gone")
	}
}
