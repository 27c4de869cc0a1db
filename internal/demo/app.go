package demo

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

const (
	// sessionCookie is the application's own session cookie. Both backends
	// use the same name on the same host, so after a failover the browser
	// presents app-01's session to app-02, which is how the loss shows.
	sessionCookie = "demo_session"
	// lbCookie is the cookie the demo's limpet config sets
	// (sticky cookie SERVERID expires=1h path=/); the app only displays it.
	lbCookie = "SERVERID"
	// maxFormBytes bounds a POST body; the only field is a short item name.
	maxFormBytes = 4 << 10
)

// cartItems are the items a cart may hold; a fixed list keeps the page
// simple and the plain-text output free of characters that need quoting.
var cartItems = []string{"apple", "bread", "coffee", "milk", "cheese", "tea"}

// accents are the page colours a server name is mapped to, so a switch of
// server is visible at a glance and not only in the heading.
var accents = []template.CSS{"#2563eb", "#d9480f", "#2b8a3e", "#9c36b5", "#0c8599", "#c2255c"}

// app is the HTTP application of one run of a Backend.
type app struct {
	name       string
	controlURL string
	accent     template.CSS
	sessions   *store
}

// newApp returns the handler of a backend run with an empty session store.
func newApp(name, controlURL string) http.Handler {
	h := fnv.New32a()
	h.Write([]byte(name))
	a := &app{
		name:       name,
		controlURL: controlURL,
		accent:     accents[h.Sum32()%uint32(len(accents))],
		sessions:   newStore(),
	}
	mux := http.NewServeMux()
	// "/{$}" matches only the root, so a browser's /favicon.ico is a 404 and
	// does not count as a visit.
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("POST /cart", a.addToCart)
	mux.HandleFunc("POST /cart/clear", a.clearCart)
	mux.HandleFunc("GET /healthz", a.healthz)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Set before routing so that the mux's own 404 and 405 carry it too.
		w.Header().Set("X-Served-By", name)
		mux.ServeHTTP(w, r)
	})
}

// wantsHTML reports whether the client is a browser rather than curl, which
// sends "Accept: */*".
func wantsHTML(r *http.Request) bool {
	return strings.Contains(strings.Join(r.Header.Values("Accept"), ","), "text/html")
}

// cookieValue returns the value of the named cookie, or "".
func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

// useSession runs fn on the request's session and sets the session cookie
// when the session is new. A browser's POST is answered with a redirect that
// does not show the session state, so only other responses report it.
func (a *app) useSession(w http.ResponseWriter, r *http.Request, report bool, fn func(*session) error) (snapshot, error) {
	snap, err := a.sessions.use(cookieValue(r, sessionCookie), report, fn)
	if snap.created {
		http.SetCookie(w, &http.Cookie{
			Name:     sessionCookie,
			Value:    snap.id,
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		})
	}
	// Every response depends on the session; a cached page would show a
	// stale server and counter.
	w.Header().Set("Cache-Control", "no-store")
	return snap, err
}

// home counts a visit and shows the session.
func (a *app) home(w http.ResponseWriter, r *http.Request) {
	snap, _ := a.useSession(w, r, true, func(s *session) error {
		s.visits++
		return nil
	})
	if wantsHTML(r) {
		a.renderHTML(w, r, snap)
		return
	}
	a.renderText(w, snap)
}

// addToCart adds the form's item to the session's cart.
func (a *app) addToCart(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	item := r.PostFormValue("item")
	if !slices.Contains(cartItems, item) {
		http.Error(w, fmt.Sprintf("unknown item %q: choose one of %s", item, strings.Join(cartItems, ", ")), http.StatusBadRequest)
		return
	}
	a.updateCart(w, r, func(s *session) error {
		if len(s.cart) >= maxCart {
			return fmt.Errorf("cart is full (%d items): clear it first", maxCart)
		}
		s.cart = append(s.cart, item)
		return nil
	})
}

// clearCart empties the session's cart.
func (a *app) clearCart(w http.ResponseWriter, r *http.Request) {
	a.updateCart(w, r, func(s *session) error {
		s.cart = nil
		return nil
	})
}

// updateCart applies fn to the session and answers a browser with a 303 to
// the page (so a reload does not repeat the POST) and curl with the state.
func (a *app) updateCart(w http.ResponseWriter, r *http.Request, fn func(*session) error) {
	html := wantsHTML(r)
	snap, err := a.useSession(w, r, !html, fn)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	if html {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.renderText(w, snap)
}

// healthz reports that the server is up, for limpet's health checks.
func (a *app) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// renderText writes the one-line answer for curl, with fields in a fixed
// order so scripts can parse it.
func (a *app) renderText(w http.ResponseWriter, snap snapshot) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "server=%s visits=%d cart=%s session=%s\n",
		a.name, snap.visits, strings.Join(snap.cart, ","), snap.state)
}

// pageData is what the app page shows.
type pageData struct {
	Server     string
	Accent     template.CSS
	Visits     int
	Cart       []string
	Items      []string
	Lost       bool
	New        bool
	ServerID   string // the load balancer's cookie as the request carried it
	SessionID  string // the session cookie as the request carried it
	ControlURL string
}

func (a *app) renderHTML(w http.ResponseWriter, r *http.Request, snap snapshot) {
	data := pageData{
		Server:     a.name,
		Accent:     a.accent,
		Visits:     snap.visits,
		Cart:       snap.cart,
		Items:      cartItems,
		Lost:       snap.state == stateLost,
		New:        snap.state == stateNew,
		ServerID:   cookieValue(r, lbCookie),
		SessionID:  cookieValue(r, sessionCookie),
		ControlURL: a.controlURL,
	}
	renderTemplate(w, appPage, data)
}

// renderTemplate executes t into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func renderTemplate(w http.ResponseWriter, t *template.Template, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, fmt.Sprintf("render page: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// baseCSS is shared by the app page and the control page.
const baseCSS = `
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2328;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:44rem;margin:2.5rem auto;padding:0 1rem}
.card{background:#fff;border:1px solid #e3e5e8;border-radius:12px;padding:1.5rem 1.75rem;margin-bottom:1.25rem;box-shadow:0 1px 2px rgba(0,0,0,.04)}
.eyebrow{margin:0;color:#6b7280;font-size:.8rem;letter-spacing:.08em;text-transform:uppercase}
h1{margin:.25rem 0 0;font-size:2.6rem;line-height:1.15}
h2{margin:0 0 .75rem;font-size:1.1rem}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f5;border-radius:4px;padding:.1em .35em;word-break:break-all}
.muted{color:#6b7280}
button{font:inherit;border:0;border-radius:8px;padding:.45rem 1rem;cursor:pointer;background:var(--accent);color:#fff}
button.secondary{background:#e9ecef;color:#1f2328}
select{font:inherit;padding:.4rem .5rem;border:1px solid #ced4da;border-radius:8px;background:#fff}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.5rem .5rem;border-bottom:1px solid #eef0f2;vertical-align:middle}
th{font-size:.8rem;color:#6b7280;text-transform:uppercase;letter-spacing:.05em}
a{color:var(--accent)}
`

var appPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Server}} · limpet demo</title>
<style>
:root{--accent:{{.Accent}}}
` + baseCSS + `
.hero{border-top:6px solid var(--accent)}
.server{color:var(--accent)}
.visits{font-size:1.2rem;margin:.75rem 0 0}
.visits strong{font-size:1.6rem;color:var(--accent)}
.alert{background:#fff4e6;border:1px solid #ffc078;border-left:6px solid #f76707;border-radius:12px;padding:1rem 1.25rem;margin-bottom:1.25rem}
.alert strong{display:block;font-size:1.1rem;margin-bottom:.25rem}
.note{color:#2b8a3e;font-size:.9rem;margin:.25rem 0 0}
.cart{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0;margin:0 0 1rem}
.cart li{background:#f1f3f5;border-radius:999px;padding:.2rem .75rem}
.row{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
</style>
</head>
<body>
<main>
{{if .Lost}}<div class="alert" role="alert"><strong>Your session was not found on {{.Server}}: it lived on another server (or this one restarted).</strong>This is the session loss sticky sessions prevent — and what a failover costs. A fresh session has been started here.</div>
{{end}}<div class="card hero">
<p class="eyebrow">limpet demo backend</p>
<h1>Served by <span class="server">{{.Server}}</span></h1>
<p class="visits">Visits in this session on {{.Server}}: <strong>{{.Visits}}</strong></p>
{{if .New}}<p class="note">New session started on {{.Server}}.</p>{{end}}
</div>
<div class="card">
<h2>Cart</h2>
{{if .Cart}}<ul class="cart">{{range .Cart}}<li>{{.}}</li>{{end}}</ul>
{{else}}<p class="muted">Your cart is empty.</p>
{{end}}<div class="row">
<form method="post" action="/cart" class="row">
<select name="item" aria-label="Item">{{range .Items}}<option>{{.}}</option>{{end}}</select>
<button type="submit">Add to cart</button>
</form>
<form method="post" action="/cart/clear"><button type="submit" class="secondary">Clear cart</button></form>
</div>
</div>
<div class="card">
<h2>Why you keep landing here</h2>
<p>The cookie <code>SERVERID</code>, set by the load balancer, pins you to {{.Server}}: limpet sends every request that carries it to the same server, so this session, which lives only in {{.Server}}'s memory, keeps working.</p>
<table>
<tr><th>Cookie</th><th>Sent with this request</th></tr>
<tr><td><code>SERVERID</code></td><td>{{with .ServerID}}<code>{{.}}</code>{{else}}<span class="muted">none</span>{{end}}</td></tr>
<tr><td><code>demo_session</code></td><td>{{with .SessionID}}<code>{{.}}</code>{{else}}<span class="muted">none</span>{{end}}</td></tr>
</table>
{{if not .ServerID}}<p class="muted">No SERVERID cookie came with this request: either this is your first visit (limpet sets it on this response) or you are talking to {{.Server}} directly rather than through limpet.</p>{{end}}
</div>
{{with .ControlURL}}<p><a href="{{.}}">Open the demo control panel</a></p>{{end}}
</main>
</body>
</html>
`))
