package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) (*http.Response, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestServesThePage(t *testing.T) {
	res, body := get(t, New("/api"), http.MethodGet, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	if !strings.Contains(body, `<body data-api="/api">`) {
		t.Errorf("the API path is not injected into the page")
	}
	if strings.Contains(body, apiPlaceholder) {
		t.Errorf("the placeholder %s is left in the page", apiPlaceholder)
	}
	for _, want := range []string{`class="topbar"`, `id="upstreams"`, `"/9/http/upstreams"`, `method: "PATCH"`, "write=on"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestNothingLoadedFromElsewhere(t *testing.T) {
	_, body := get(t, New("/api"), http.MethodGet, "/")
	// No absolute URL anywhere: no CDN, no web font, no image host.
	if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(body); m != "" {
		t.Errorf("page refers to another host: %q", m)
	}
	// Every src and href stays in the page.
	for _, m := range regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(body, -1) {
		if v := m[2]; !strings.HasPrefix(v, "data:") && !strings.HasPrefix(v, "#") {
			t.Errorf("%s=%q loads something outside the page", m[1], v)
		}
	}
	if strings.Contains(body, "@import") || strings.Contains(body, "url(") {
		t.Errorf("CSS loads something")
	}
}

func TestAPIBaseIsEscaped(t *testing.T) {
	_, body := get(t, New(`/a"><script>x</script>`), http.MethodGet, "/")
	if !strings.Contains(body, `data-api="/a&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`) {
		t.Errorf("the API path is not escaped as an attribute value")
	}
}

func TestWithoutAPIThePageExplainsHowToAddIt(t *testing.T) {
	_, body := get(t, New(""), http.MethodGet, "/")
	if !strings.Contains(body, `<body data-api="">`) {
		t.Errorf("empty API path not injected")
	}
	if !strings.Contains(body, `id="no-api"`) || !strings.Contains(body, "location /api {\n    api write=on;\n}") {
		t.Errorf("page lacks the instructions for adding the API location")
	}
}

func TestContentSecurityPolicyAllowsOnlyThePagesOwnCode(t *testing.T) {
	res, _ := get(t, New("/api"), http.MethodGet, "/")
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q allows unsafe sources", csp)
	}
}

func TestRoutes(t *testing.T) {
	h := New("/api")
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodGet, "/index.html", http.StatusOK},
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodGet, "/other", http.StatusNotFound},
		{http.MethodGet, "/9/http/upstreams", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res, body := get(t, h, tt.method, tt.path)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.method == http.MethodHead && body != "" {
				t.Errorf("HEAD answered with a body")
			}
		})
	}
}
