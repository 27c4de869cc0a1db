package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
)

// ControlOption configures the handler returned by NewControl.
type ControlOption func(*control)

// WithLBURL sets the load balancer's URL, such as "http://127.0.0.1:8080/",
// which the control page links to as the place to open the app. Without it
// the page shows no link.
func WithLBURL(url string) ControlOption {
	return func(c *control) { c.lbURL = url }
}

// control is the control page's handler.
type control struct {
	backends []*Backend
	lbURL    string
	mux      *http.ServeMux
}

// NewControl serves the control page: lists backends with state and
// Stop/Start buttons (POST forms), plus JSON at /status.
//
// Routes: GET / (the page), GET /status (JSON array of
// {"name","addr","running"}), POST /backends/NAME/stop and
// POST /backends/NAME/start (303 back to the page; 404 for an unknown name;
// 409 when the backend is already in the requested state). Backend names
// must be unique; the first match wins.
//
// The page's forms and redirects use relative URLs, so the handler also
// works when mounted under a prefix with http.StripPrefix (the page must
// then be reached with a trailing slash, as in "/demo/").
func NewControl(backends []*Backend, opts ...ControlOption) http.Handler {
	c := &control{backends: backends, mux: http.NewServeMux()}
	for _, opt := range opts {
		opt(c)
	}
	c.mux.HandleFunc("GET /{$}", c.page)
	c.mux.HandleFunc("GET /status", c.status)
	c.mux.HandleFunc("POST /backends/{name}/stop", c.action((*Backend).Stop, "stopped"))
	c.mux.HandleFunc("POST /backends/{name}/start", c.action((*Backend).Start, "started"))
	return c
}

// ServeHTTP implements http.Handler.
func (c *control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The page changes whenever a backend does; never show a cached state.
	w.Header().Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// backendStatus is one element of GET /status.
type backendStatus struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"`
	Running bool   `json:"running"`
}

func (c *control) snapshot() []backendStatus {
	out := make([]backendStatus, 0, len(c.backends))
	for _, b := range c.backends {
		out = append(out, backendStatus{Name: b.Name(), Addr: b.Addr(), Running: b.Running()})
	}
	return out
}

func (c *control) status(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(c.snapshot())
	if err != nil {
		http.Error(w, fmt.Sprintf("encode status: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

func (c *control) find(name string) *Backend {
	for _, b := range c.backends {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

// action returns the handler of a stop or start button.
func (c *control) action(do func(*Backend) error, done string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		b := c.find(name)
		if b == nil {
			http.Error(w, fmt.Sprintf("unknown backend %q", name), http.StatusNotFound)
			return
		}
		if err := do(b); err != nil {
			code := http.StatusInternalServerError // e.g. the port was taken meanwhile
			if errors.Is(err, ErrRunning) || errors.Is(err, ErrStopped) {
				code = http.StatusConflict
			}
			http.Error(w, err.Error(), code)
			return
		}
		// A relative Location ("/backends/NAME/stop" → "../../") leads back
		// to the page even under a prefix; http.Redirect would resolve it
		// against the stripped path and lose the prefix.
		w.Header().Set("Location", "../../")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusSeeOther)
		fmt.Fprintf(w, "%s %s\n", done, b.Name())
	}
}

// controlData is what the control page shows.
type controlData struct {
	Backends []backendStatus
	LBURL    string
}

func (c *control) page(w http.ResponseWriter, r *http.Request) {
	renderTemplate(w, controlPage, controlData{Backends: c.snapshot(), LBURL: c.lbURL})
}

var controlPage = template.Must(template.New("control").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>limpet demo · control panel</title>
<style>
:root{--accent:#2563eb}
` + baseCSS + `
h1{font-size:2rem}
.state{display:inline-block;border-radius:999px;padding:.1rem .7rem;font-size:.85rem;font-weight:600}
.running{background:#d3f9d8;color:#2b8a3e}
.stopped{background:#ffe3e3;color:#c92a2a}
button.stop{background:#e03131}
button.start{background:#2b8a3e}
ol{padding-left:1.25rem;margin:.5rem 0 0}
li{margin:.25rem 0}
</style>
</head>
<body>
<main>
<div class="card">
<p class="eyebrow">limpet demo</p>
<h1>Control panel</h1>
{{with .LBURL}}<p>The app, through limpet: <a href="{{.}}" target="_blank" rel="noopener">{{.}}</a></p>{{end}}
</div>
<div class="card">
<h2>Backends</h2>
<table>
<tr><th>Name</th><th>Address</th><th>State</th><th></th></tr>
{{range .Backends}}<tr>
<td><strong>{{.Name}}</strong></td>
<td><code>{{.Addr}}</code></td>
<td>{{if .Running}}<span class="state running">running</span>{{else}}<span class="state stopped">stopped</span>{{end}}</td>
<td>{{if .Running}}<form method="post" action="backends/{{.Name}}/stop"><button type="submit" class="stop">Stop</button></form>
{{- else}}<form method="post" action="backends/{{.Name}}/start"><button type="submit" class="start">Start</button></form>{{end}}</td>
</tr>
{{end}}</table>
<p class="muted">Stop closes the server at once, like a crash: its connections are cut and the sessions in its memory are gone. Start brings it back on the same address with no sessions. JSON: <a href="status">status</a>.</p>
</div>
<div class="card">
<h2>Watch a failover</h2>
<p>Open the app in another tab, note the server, stop it here, reload the app: limpet moves you to the other server and sets a new SERVERID cookie; your visit count starts again because the session lived in the stopped server's memory.</p>
</div>
</main>
</body>
</html>
`))
