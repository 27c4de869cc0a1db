package proxy

import (
	"net/http"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/h1"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
	"github.com/limpet-lb/limpet/internal/vars"
)

// passRequest is a compiled proxy_method and proxy_pass_request_headers
// and proxy_pass_request_body.
type passRequest struct {
	method    *vars.Template // nil: the client's
	noHeaders bool
	noBody    bool
}

// compilePassRequest returns nil for the defaults, so the request path
// skips it; an unknown variable in proxy_method is an error at pos.
func compilePassRequest(c config.PassRequest, pos config.Pos) (*passRequest, error) {
	if c == (config.PassRequest{}) {
		return nil, nil
	}
	p := &passRequest{noHeaders: c.NoHeaders, noBody: c.NoBody}
	if c.Method != "" {
		t, err := vars.Compile(c.Method)
		if err != nil {
			return nil, &config.Error{Pos: pos, Msg: err.Error()}
		}
		p.method = t
	}
	return p, nil
}

// apply changes out, the request about to go upstream, and fwd, its
// header, as nginx's proxy module builds the request: another method, no
// client fields (proxy_set_header's still go), no body (and no length:
// limpet's transport then writes none, or "Content-Length: 0" for a
// method that usually has a body).
func (p *passRequest) apply(out *http.Request, fwd *h1.Forward, vr *vars.Request) {
	if p.method != nil {
		// A value that expands to something that is not a method keeps
		// the client's rather than send a broken request line.
		if m := p.method.Expand(vr); httpsyntax.ValidToken(m) {
			out.Method = m
		}
	}
	if p.noHeaders {
		fwd.Client = nil
	}
	if p.noBody {
		out.Body, out.ContentLength = nil, 0
	}
}
