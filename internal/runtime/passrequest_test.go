package runtime

import (
	"net/http"
	"strings"
	"testing"
)

// TestPassRequest: proxy_method, proxy_pass_request_headers off and
// proxy_pass_request_body off change what reaches a real backend, as in
// Discourse's avatar proxy; other locations pass the request whole.
func TestPassRequest(t *testing.T) {
	app := newBackend(t, "app")
	lb := startLimpet(t, `
upstream app { server {{app}}; }
server {
    listen 127.0.0.1:0;
    access_log off;
    location /bare/ {
        proxy_method GET;
        proxy_pass_request_headers off;
        proxy_pass_request_body off;
        proxy_set_header X-Kept "$http_x_client";
        proxy_pass http://app;
    }
    location /method/ { proxy_method $arg_m; proxy_pass http://app; }
    location / { proxy_pass http://app; }
}`, "{{app}}", app.addr())
	c := newClient(t)
	post := func(path string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, lb.url+path, strings.NewReader("the body"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Client", "a")
		req.Header.Set("Cookie", "session=secret")
		if res, _ := do(t, c, req); res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, res.StatusCode)
		}
	}

	post("/bare/x")
	r, body := app.lastRequest()
	if r.Method != http.MethodGet || len(body) != 0 || r.Header.Get("Cookie") != "" || r.Header.Get("X-Client") != "" {
		t.Errorf("bare: %s body %q Cookie %q X-Client %q", r.Method, body, r.Header.Get("Cookie"), r.Header.Get("X-Client"))
	}
	if r.Header.Get("X-Kept") != "a" || r.Host != "app" {
		t.Errorf("bare: X-Kept %q Host %q: proxy_set_header's fields still go", r.Header.Get("X-Kept"), r.Host)
	}

	post("/method/x?m=PUT")
	if r, body := app.lastRequest(); r.Method != http.MethodPut || string(body) != "the body" {
		t.Errorf("method from a variable: %s %q", r.Method, body)
	}
	post("/method/x?m=a,b")
	if r, _ := app.lastRequest(); r.Method != http.MethodPost {
		t.Errorf("a method that expands to no token: %s, want the client's", r.Method)
	}

	post("/whole")
	if r, body := app.lastRequest(); r.Method != http.MethodPost || string(body) != "the body" || r.Header.Get("Cookie") != "session=secret" {
		t.Errorf("default: %s %q Cookie %q", r.Method, body, r.Header.Get("Cookie"))
	}
}
