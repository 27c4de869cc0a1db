package proxy

import (
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// TestFormatAttempts checks the log's upstream fields, as nginx's
// $upstream_addr and $upstream_status write them.
func TestFormatAttempts(t *testing.T) {
	a, b := &upstream.Server{Addr: "10.0.0.1:80"}, &upstream.Server{Addr: "10.0.0.2:80"}
	tests := []struct {
		name          string
		records       []attemptRecord
		addrs, status string
	}{
		{"none", nil, "", ""},
		{"one", []attemptRecord{{server: a, status: 200}}, "10.0.0.1:80", "200"},
		{"one without an answer", []attemptRecord{{server: a}}, "10.0.0.1:80", "-"},
		{"an odd code", []attemptRecord{{server: a, status: 799}}, "10.0.0.1:80", "799"},
		{"a retry", []attemptRecord{{server: a, status: 502}, {server: b, status: 200}}, "10.0.0.1:80, 10.0.0.2:80", "502, 200"},
		{"beyond the array", []attemptRecord{{server: a, status: 502}, {server: b}, {server: a, status: 504}, {server: b, status: 502}, {server: a, status: 201}},
			"10.0.0.1:80, 10.0.0.2:80, 10.0.0.1:80, 10.0.0.2:80, 10.0.0.1:80", "502, -, 504, 502, 201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := &exchange{tries: len(tt.records)}
			for i, r := range tt.records {
				if i < len(x.attempts) {
					x.attempts[i] = r
				} else {
					x.moreAttempts = append(x.moreAttempts, r)
				}
			}
			addrs, status := x.formatAttempts()
			if addrs != tt.addrs || status != tt.status {
				t.Errorf("formatAttempts() = %q, %q; want %q, %q", addrs, status, tt.addrs, tt.status)
			}
		})
	}
}
