package proxy

import (
	"net/http"
	"slices"
	"testing"

	"github.com/limpet-lb/limpet/internal/h1"
)

// A later proxy_set_header of a name replaces an earlier one, an empty
// value leaves the field out, and one of Connection or Upgrade replaces
// what an upgrade adds; names set once are simply appended.
func TestProxySetHeaderFields(t *testing.T) {
	tests := []struct {
		name     string
		location string
		upgrade  bool
		fields   []h1.Field
		omit     []string
	}{
		{"distinct names", "proxy_set_header X-A 1; proxy_set_header X-B 2;", false,
			[]h1.Field{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}}, nil},
		{"a name set twice", "proxy_set_header X-A 1; proxy_set_header X-B 2; proxy_set_header x-a 3;", false,
			[]h1.Field{{Name: "X-B", Value: "2"}, {Name: "X-A", Value: "3"}}, nil},
		{"set, then cleared", `proxy_set_header X-A 1; proxy_set_header X-A "";`, false,
			nil, []string{"X-A"}},
		{"cleared, then set", `proxy_set_header X-A ""; proxy_set_header X-A 1;`, false,
			[]h1.Field{{Name: "X-A", Value: "1"}}, []string{"X-A"}},
		{"an upgrade, Connection set", `proxy_set_header Connection "upgrade";`, true,
			[]h1.Field{{Name: "Upgrade", Value: "websocket"}, {Name: "Connection", Value: "upgrade"}}, nil},
		{"an upgrade, Upgrade cleared", `proxy_set_header Upgrade "";`, true,
			[]h1.Field{{Name: "Connection", Value: "Upgrade"}}, []string{"Upgrade"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &recordingTransport{}
			p := newTestProxy(t, "$status", tt.location, "", tr, nil, nil)
			req := p.request("/", 0)
			if tt.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
			}
			w := &benchWriter{h: make(http.Header)}
			p.h.ServeHTTP(w, req)
			if len(tr.fields) == 0 {
				t.Fatalf("no attempt (status %d)", w.code)
			}
			if got := tr.fields[0]; !slices.Equal(got, tt.fields) {
				t.Errorf("fields %q, want %q", got, tt.fields)
			}
			if got := tr.omit[0]; !slices.Equal(got, tt.omit) {
				t.Errorf("omitted %q, want %q", got, tt.omit)
			}
		})
	}
}
