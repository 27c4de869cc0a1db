// Package dashboard serves limpet's live dashboard: one self-contained
// page (HTML, CSS and JavaScript in index.html, embedded in the binary, no
// framework, nothing loaded from elsewhere) that polls the runtime API
// every second and shows every upstream and server: state, req/s, active
// requests, errors, sticky hit ratio and why requests were not hits, and
// for draining servers whether their pinned users are still around. Drain
// and Undrain buttons send PATCH requests to the same API.
//
// The page knows nothing but the API's path, which New writes into it
// once. Everything it shows comes from the API, which reads the same
// atomics as the metrics, so the dashboard, the API and Prometheus agree.
package dashboard

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html"
	"net/http"
	"strings"
)

//go:embed index.html
var page string

// apiPlaceholder is where index.html takes the API's path.
const apiPlaceholder = "{{API_BASE}}"

// New returns the dashboard handler. apiBase is the URL path of the
// location that serves the runtime API (for example "/api"), or "" when
// the configuration has none: the page then explains how to add
// `location /api { api write=on; }`.
//
// The handler serves the page at "/" (the runtime strips the dashboard
// location's prefix), for GET and HEAD; anything else under it is 404.
// The page carries a Content-Security-Policy that allows only its own
// inline script and style (by hash) and requests to its own origin.
func New(apiBase string) http.Handler {
	body := []byte(strings.Replace(page, apiPlaceholder, html.EscapeString(apiBase), 1))
	return &handler{body: body, csp: contentSecurityPolicy(page)}
}

type handler struct {
	body []byte
	csp  string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "" && r.URL.Path != "/index.html" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(h.body)
}

// contentSecurityPolicy allows the page's inline <script> and <style>
// elements by their SHA-256 and nothing else but fetches to its origin,
// so even an injected element could not run or load anything.
func contentSecurityPolicy(page string) string {
	return "default-src 'none'; " +
		"script-src " + inlineHash(page, "script") + "; " +
		"style-src " + inlineHash(page, "style") + "; " +
		"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// inlineHash returns the CSP source of the first <tag> element's content.
func inlineHash(page, tag string) string {
	_, rest, ok := strings.Cut(page, "<"+tag+">")
	if !ok {
		panic("dashboard: index.html has no <" + tag + ">")
	}
	content, _, ok := strings.Cut(rest, "</"+tag+">")
	if !ok {
		panic("dashboard: index.html has no </" + tag + ">")
	}
	sum := sha256.Sum256([]byte(content))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
