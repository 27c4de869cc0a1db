package proxy

import (
	"net/http"
	"net/textproto"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// addHeader is one compiled `add_header` (ngx_http_headers_filter_module).
type addHeader struct {
	// name in canonical form, the key of http.Header.
	name   string
	value  *vars.Template
	always bool
	// static is the one-line value of a header without variables,
	// shared by every response that has no field of the name yet, so
	// such a header costs no allocation. Its capacity is its length: an
	// append to it copies, never writes into it.
	static []string
	// replace marks ETag and Last-Modified, which nginx sets rather than
	// adds (ngx_http_set_response_header): the value replaces the
	// response's own field, and an empty value removes it.
	replace bool
}

// compileAddHeaders compiles an add_header list, nil when it is empty so
// that the request path can skip it; an unknown variable is an error
// naming the directive's file and line.
func compileAddHeaders(g *vars.Registry, list []config.AddHeader) ([]addHeader, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]addHeader, 0, len(list))
	for _, h := range list {
		t, err := g.Compile(h.Value)
		if err != nil {
			return nil, &config.Error{Pos: h.Pos, Msg: err.Error()}
		}
		name := textproto.CanonicalMIMEHeaderKey(h.Name)
		ah := addHeader{name: name, value: t, always: h.Always,
			replace: name == "Etag" || name == "Last-Modified"}
		if v, ok := t.Static(); ok && v != "" {
			ah.static = []string{v}
		}
		out = append(out, ah)
	}
	return out, nil
}

// addHeaderStatus reports the statuses add_header applies to without
// `always`: nginx's list in ngx_http_headers_filter.
func addHeaderStatus(code int) bool {
	switch code {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent, http.StatusPartialContent,
		http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusNotModified,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// applyAddHeaders adds the headers of list to dst, the header of a
// response with status code, expanding their values against vr. Like
// nginx, it adds beside the fields already there (several lines of one
// name all go out), and skips a header whose value expands to nothing.
func applyAddHeaders(list []addHeader, dst http.Header, code int, vr *vars.Request) {
	safe := addHeaderStatus(code)
	for i := range list {
		h := &list[i]
		if !safe && !h.always {
			continue
		}
		if h.static != nil && (h.replace || len(dst[h.name]) == 0) {
			dst[h.name] = h.static
			continue
		}
		v := h.value.Expand(vr)
		switch {
		case h.replace && v == "":
			delete(dst, h.name)
		case h.replace:
			dst[h.name] = []string{v}
		case v != "":
			dst[h.name] = append(dst[h.name], v)
		}
	}
}
