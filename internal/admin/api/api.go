// Package api is limpet's runtime API: the HTTP upstreams part of the
// NGINX Plus REST API (ngx_http_api_module), version 9, served where the
// configuration says `api [write=on];`.
//
// The paths, methods, JSON field names, status codes and error objects are
// NGINX Plus's, so the tools written for it (nginx-plus-go-client, the
// Ingress controller's scripts, curl one-liners from the docs) work
// against limpet unchanged:
//
//	GET    /                                   API versions
//	GET    /9/                                 root endpoints: ["nginx", "http"]
//	GET    /9/nginx                            the process: version, generation, pids
//	GET    /9/http/                            ["upstreams"]
//	GET    /9/http/upstreams                   status of every upstream
//	GET    /9/http/upstreams/NAME              status of one upstream
//	GET    /9/http/upstreams/NAME/servers      configuration of its servers
//	POST   /9/http/upstreams/NAME/servers      add a server
//	GET    /9/http/upstreams/NAME/servers/ID   configuration of one server
//	PATCH  /9/http/upstreams/NAME/servers/ID   change it (weight, down, drain)
//	DELETE /9/http/upstreams/NAME/servers/ID   remove it
//
// Everything the status views print is read from the same atomics the
// proxy writes (upstream.Server.Snapshot), so the API, the metrics and the
// dashboard never disagree. Changes go through live.Upstream.Update,
// which swaps in a new immutable snapshot of servers and balancers, or
// through the servers' atomic setters for down and drain: they take effect
// for the next request, requests in flight finish where they are, and the
// other servers (and their users' cookies) are untouched. A request is
// validated completely before anything changes, so a rejected request
// changes nothing. Before that, a write a browser page of another origin
// could have sent is refused (checkWrite): the operator's browser would
// have sent it with the operator's address and password.
//
// limpet adds its own data under a "limpet" key, where NGINX Plus clients
// ignore it: each peer's stable ID (its sticky cookie value) and the
// requests of users pinned to it, and each upstream's persistence
// decisions by label. README.md lists what differs from NGINX Plus.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/limpet-lb/limpet/internal/live"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// Version is the NGINX Plus API version whose paths and objects limpet
// serves.
const Version = 9

// docsURL is the "href" of every error object, as in NGINX Plus.
const docsURL = "https://nginx.org/en/docs/http/ngx_http_api_module.html"

// Upstreams is what the API reads and changes; the runtime implements it.
type Upstreams interface {
	// Names returns the upstreams' names in configuration order.
	Names() []string
	// Upstream returns the upstream called name, or nil if there is none.
	Upstream(name string) *live.Upstream
}

// Options configure the API. The zero value serves a read-only API.
type Options struct {
	// Write allows POST, PATCH and DELETE (`api write=on`). Without it
	// they are answered 405 MethodDisabled.
	Write bool
	// Resolve returns the addresses of a host name given in a new
	// server's address; nil means net.DefaultResolver.LookupHost.
	Resolve func(ctx context.Context, host string) ([]string, error)
	// Now returns the current time; nil means time.Now. Tests inject a
	// clock to make rates and durations deterministic.
	Now func() time.Time
	// Log receives one line per change of the server set; nil discards.
	Log *slog.Logger
	// Process describes the running limpet for GET /9/nginx; nil
	// answers it 404, as a path this API does not serve.
	Process func() Process
	// Origins are origins ("https://ops.example.com", as browsers send
	// them) whose pages may write although they are not the API's own
	// host: `api origin=...`. By default a browser may write from the
	// API's own origin only. Each must be an origin config accepts
	// (scheme, host, optional port, nothing else); New panics otherwise.
	Origins []string
}

// resolveTimeout bounds the name resolution of a server being added.
const resolveTimeout = 10 * time.Second

// maxBody bounds a request body; a server's parameters take a few
// hundred bytes.
const maxBody = 64 << 10

// handler serves the API.
type handler struct {
	ups   Upstreams
	o     Options
	rates rates
	// cross refuses the writes of browser pages from other origins.
	cross *http.CrossOriginProtection
}

var _ http.Handler = (*handler)(nil)

// New returns the API handler. It serves paths relative to the location it
// is mounted at: the runtime strips the location's prefix, so that for
// `location /api/` a request for /api/9/http/upstreams reaches the handler
// as "/9/http/upstreams". A trailing slash is accepted on every path, as
// NGINX Plus accepts it.
func New(ups Upstreams, o Options) http.Handler {
	if o.Resolve == nil {
		o.Resolve = net.DefaultResolver.LookupHost
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cross := http.NewCrossOriginProtection()
	for _, origin := range o.Origins {
		if err := cross.AddTrustedOrigin(origin); err != nil {
			panic("api: " + err.Error())
		}
	}
	return &handler{ups: ups, o: o, rates: rates{last: map[string]map[*upstream.Server]sample{}}, cross: cross}
}

// op answers one method of one endpoint: the status and the object to
// send as JSON, or an error.
type op func(r *http.Request) (status int, body any, err *apiError)

// ServeHTTP routes a request to its endpoint and method, refusing unknown
// paths (404 PathNotFound), unknown versions (404 UnknownVersion), methods
// the endpoint does not have (405 MethodNotSupported, which is also the
// answer to a CORS preflight: OPTIONS), without write=on methods that
// change something (405 MethodDisabled), writes sent by a browser page of
// another origin (403 CrossOriginForbidden) and bodies declared as
// something else than JSON (415 UnsupportedMediaType); see checkWrite.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ops, err := h.route(r.URL.Path)
	if err != nil {
		h.writeError(w, err)
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	fn, ok := ops[method]
	if !ok {
		allowed := make([]string, 0, len(ops))
		for m := range ops {
			allowed = append(allowed, m)
		}
		sort.Strings(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		h.writeError(w, errMethodNotSupported)
		return
	}
	if method != http.MethodGet {
		if !h.o.Write {
			h.writeError(w, errMethodDisabled)
			return
		}
		if err := h.checkWrite(r); err != nil {
			h.writeError(w, err)
			return
		}
	}
	status, body, err := fn(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, status, body)
}

// checkWrite refuses a write (POST, PATCH, DELETE) that a browser page
// may have sent without the operator meaning it: cross-site request
// forgery, where a page elsewhere makes the operator's browser send a
// request to the API with the credentials it holds (Basic, or its address
// in an allow list).
//
// A browser sends a form, or a fetch it need not ask permission for (no
// CORS preflight), only as POST and only with a Content-Type of
// application/x-www-form-urlencoded, multipart/form-data or text/plain;
// every other write needs a preflight, which the API refuses (OPTIONS is
// 405, without any Access-Control-Allow-* header). Two checks follow:
//
//   - the request must not come from another origin: Sec-Fetch-Site, when
//     the browser sends it, must be "same-origin" or "none", else the
//     Origin header, when there is one, must name the request's Host
//     (http.CrossOriginProtection's rules), unless it is one of the
//     trusted Options.Origins. Requests with neither header come from
//     programs (curl, nginx-plus-go-client) and pass;
//   - a body (POST, PATCH) must be declared application/json, parameters
//     such as charset allowed, or not declared at all: NGINX Plus's
//     clients send JSON, nginx-plus-go-client's PATCH without a
//     Content-Type. Browsers declare the type of every form and every
//     fetch body but bytes, which they send with an Origin.
func (h *handler) checkWrite(r *http.Request) *apiError {
	if err := h.cross.Check(r); err != nil {
		return errCrossOrigin(r)
	}
	if r.Method == http.MethodDelete {
		return nil // nothing to read: NGINX Plus's DELETE has no body
	}
	types := r.Header.Values("Content-Type")
	if len(types) == 0 {
		return nil
	}
	if len(types) == 1 {
		if mt, _, err := mime.ParseMediaType(types[0]); err == nil && mt == "application/json" {
			return nil
		}
	}
	return errUnsupportedMediaType(strings.Join(types, ", "))
}

// route returns the methods of the endpoint at path.
func (h *handler) route(path string) (map[string]op, *apiError) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	for _, s := range segs {
		if s == "" {
			return nil, errPathNotFound
		}
	}
	if len(segs) == 0 {
		return map[string]op{http.MethodGet: h.versions}, nil
	}
	if v, err := strconv.Atoi(segs[0]); err != nil || v < 1 || v > Version || segs[0] != strconv.Itoa(v) {
		return nil, errUnknownVersion
	}
	segs = segs[1:]
	switch {
	case len(segs) == 0:
		if h.o.Process == nil {
			return map[string]op{http.MethodGet: list("http")}, nil
		}
		return map[string]op{http.MethodGet: list("nginx", "http")}, nil
	case segs[0] == "nginx" && len(segs) == 1 && h.o.Process != nil:
		return map[string]op{http.MethodGet: h.getNginx}, nil
	case segs[0] != "http":
		return nil, errPathNotFound
	case len(segs) == 1:
		return map[string]op{http.MethodGet: list("upstreams")}, nil
	case segs[1] != "upstreams":
		return nil, errPathNotFound
	case len(segs) == 2:
		return map[string]op{http.MethodGet: h.getUpstreams}, nil
	}
	name := segs[2]
	switch {
	case len(segs) == 3:
		// NGINX Plus's DELETE here resets the statistics, which limpet's
		// counters cannot do yet: it is left out (405).
		return map[string]op{http.MethodGet: h.withUpstream(name, h.getUpstream)}, nil
	case segs[3] != "servers":
		return nil, errPathNotFound
	case len(segs) == 4:
		return map[string]op{
			http.MethodGet:  h.withUpstream(name, h.getServers),
			http.MethodPost: h.withUpstream(name, h.addServer),
		}, nil
	case len(segs) == 5:
		id := segs[4]
		return map[string]op{
			http.MethodGet:    h.withServer(name, id, h.getServer),
			http.MethodPatch:  h.withServer(name, id, h.patchServer),
			http.MethodDelete: h.withServer(name, id, h.deleteServer),
		}, nil
	}
	return nil, errPathNotFound
}

// versions answers GET /: the API versions, as numbers, as NGINX Plus
// lists them. Every version is served with version 9's objects, which for
// HTTP upstreams are those of every earlier version plus fields.
func (h *handler) versions(*http.Request) (int, any, *apiError) {
	vs := make([]int, Version)
	for i := range vs {
		vs[i] = i + 1
	}
	return http.StatusOK, vs, nil
}

// list answers with a fixed list of endpoint names.
func list(names ...string) op {
	return func(*http.Request) (int, any, *apiError) { return http.StatusOK, names, nil }
}

// withUpstream resolves the upstream of the path before fn runs.
func (h *handler) withUpstream(name string, fn func(*live.Upstream, *http.Request) (int, any, *apiError)) op {
	return func(r *http.Request) (int, any, *apiError) {
		u := h.ups.Upstream(name)
		if u == nil {
			return 0, nil, errUpstreamNotFound
		}
		return fn(u, r)
	}
}

// withServer resolves the upstream and parses the server ID of the path
// before fn runs; whether a server has that ID is fn's to check, under the
// upstream's lock.
func (h *handler) withServer(name, id string, fn func(*live.Upstream, int, *http.Request) (int, any, *apiError)) op {
	return h.withUpstream(name, func(u *live.Upstream, r *http.Request) (int, any, *apiError) {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 || id != strconv.Itoa(n) {
			return 0, nil, errBadServerID
		}
		return fn(u, n, r)
	})
}

// apiError is an error object of the NGINX Plus API.
type apiError struct {
	Status int    `json:"status"`
	Text   string `json:"text"`
	Code   string `json:"code"`
}

func (e *apiError) Error() string { return e.Text }

// The errors of NGINX Plus, with its codes and texts.
var (
	errPathNotFound       = &apiError{http.StatusNotFound, "path not found", "PathNotFound"}
	errUnknownVersion     = &apiError{http.StatusNotFound, "unknown version", "UnknownVersion"}
	errMethodNotSupported = &apiError{http.StatusMethodNotAllowed, "method not supported", "MethodNotSupported"}
	errMethodDisabled     = &apiError{http.StatusMethodNotAllowed, "method disabled", "MethodDisabled"}
	errUpstreamNotFound   = &apiError{http.StatusNotFound, "upstream not found", "UpstreamNotFound"}
	errBadServerID        = &apiError{http.StatusBadRequest, "invalid server ID", "UpstreamBadServerId"}
	errEntryExists        = &apiError{http.StatusConflict, "entry exists", "EntryExists"}
	errJSON               = &apiError{http.StatusUnsupportedMediaType, "JSON error", "JsonError"}
	errBodyRead           = &apiError{http.StatusBadRequest, "reading request body failed", "BodyReadError"}
)

// errServerNotFound is NGINX Plus's error for an unknown server ID.
func errServerNotFound(id int) *apiError {
	return &apiError{http.StatusNotFound, `server with ID "` + strconv.Itoa(id) + `" does not exist`, "UpstreamServerNotFound"}
}

// errCrossOrigin is limpet's error for a write from a browser page of
// another origin; NGINX Plus has none (it does not check).
// The text names what decided, as http.CrossOriginProtection decides:
// Sec-Fetch-Site when the browser sent it, else the Origin.
func errCrossOrigin(r *http.Request) *apiError {
	text := "cross-origin write refused: "
	origin := r.Header.Get("Origin")
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		text += "Sec-Fetch-Site is " + strconv.Quote(clip(site))
		if origin != "" {
			text += " and origin " + strconv.Quote(clip(origin)) + " is not trusted"
		}
	} else {
		text += "origin " + strconv.Quote(clip(origin)) + " is not this API's"
	}
	return &apiError{http.StatusForbidden, text, "CrossOriginForbidden"}
}

// errUnsupportedMediaType is limpet's error for a body declared as
// something else than JSON; NGINX Plus reads any body as JSON.
func errUnsupportedMediaType(ct string) *apiError {
	return &apiError{http.StatusUnsupportedMediaType,
		"unsupported media type " + strconv.Quote(clip(ct)) + `, send "Content-Type: application/json"`,
		"UnsupportedMediaType"}
}

// clip shortens a header value quoted back to the client to 200 bytes.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// badRequest is a 400 with an NGINX Plus code.
func badRequest(code, text string) *apiError {
	return &apiError{http.StatusBadRequest, text, code}
}

// writeError sends err as NGINX Plus does:
// {"error":{"status":404,"text":"upstream not found","code":"UpstreamNotFound"},"request_id":"...","href":"..."}.
func (h *handler) writeError(w http.ResponseWriter, err *apiError) {
	writeJSON(w, err.Status, struct {
		Error     *apiError `json:"error"`
		RequestID string    `json:"request_id"`
		Href      string    `json:"href"`
	}{err, requestID(), docsURL})
}

// requestID returns a new random ID in the form of nginx's $request_id:
// 32 hexadecimal digits.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeJSON sends v as the JSON body of a response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Unreachable: every body is built from plain values.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"status":500,"text":"internal error","code":"InternalError"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
