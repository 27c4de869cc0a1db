package runtime

import (
	"fmt"
	"strings"
	"testing"
)

// Every balancing method works end to end from its directive, and backup
// servers get traffic only when no primary is available.
func TestBalancingMethods(t *testing.T) {
	tests := []struct {
		name   string
		method string
		// check gets the server names that answered 40 requests for
		// /page/0 ... /page/39 from new users.
		check func(t *testing.T, got []string)
	}{
		{"round-robin with weights", "", func(t *testing.T, got []string) {
			if c := count(got); c["a"] != 30 || c["b"] != 10 {
				t.Errorf("weights 3:1 gave %v, want 30 and 10", c)
			}
		}},
		{"least_conn", "least_conn;", func(t *testing.T, got []string) {
			// Requests are sequential, so every server is idle: ties
			// are broken by weighted round-robin.
			if c := count(got); c["a"] != 30 || c["b"] != 10 {
				t.Errorf("least_conn with idle servers gave %v, want weighted 30 and 10", c)
			}
		}},
		{"random two", "random two;", func(t *testing.T, got []string) {
			if c := count(got); c["a"] == 0 || c["b"] == 0 {
				t.Errorf("random two gave %v, want both servers used", c)
			}
		}},
		{"hash consistent", "hash $request_uri consistent;", func(t *testing.T, got []string) {
			if c := count(got); c["a"] == 0 || c["b"] == 0 {
				t.Errorf("40 URIs all hashed to one server: %v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newBackend(t, "a"), newBackend(t, "b")
			conf := `
upstream backend { ` + tt.method + ` server {{a}} weight=3; server {{b}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`
			lb := startLimpet(t, conf, "{{a}}", a.addr(), "{{b}}", b.addr())
			var got []string
			for i := range 40 {
				_, body := get(t, newClient(t), fmt.Sprintf("%s/page/%d", lb.url, i))
				got = append(got, body)
			}
			tt.check(t, got)
			if strings.Contains(tt.method, "hash") {
				// The same key goes to the same server every time.
				for i := range 40 {
					if _, body := get(t, newClient(t), fmt.Sprintf("%s/page/%d", lb.url, i)); body != got[i] {
						t.Fatalf("/page/%d went to %s, then to %s", i, got[i], body)
					}
				}
			}
		})
	}
}

func TestBackupServer(t *testing.T) {
	a, b, spare := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "spare")
	lb := startLimpet(t, `
upstream backend { server {{a}}; server {{b}}; server {{spare}} backup; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } }`,
		"{{a}}", a.addr(), "{{b}}", b.addr(), "{{spare}}", spare.addr())
	for range 10 {
		if _, body := get(t, newClient(t), lb.url+"/"); body == "spare" {
			t.Fatal("the backup server got traffic while primaries were up")
		}
	}
	a.stop()
	for range 4 {
		if _, body := get(t, newClient(t), lb.url+"/"); body != "b" {
			t.Fatalf("with one primary left, %s answered, want b", body)
		}
	}
	b.stop()
	for range 4 {
		if res, body := get(t, newClient(t), lb.url+"/"); res.StatusCode != 200 || body != "spare" {
			t.Fatalf("with every primary down: %d from %q, want 200 from spare", res.StatusCode, body)
		}
	}
}

func count(names []string) map[string]int {
	c := map[string]int{}
	for _, n := range names {
		c[n]++
	}
	return c
}
