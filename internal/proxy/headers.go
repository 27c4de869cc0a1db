package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/httpsyntax"
	"github.com/limpet-lb/limpet/internal/vars"
)

// removeHopHeaders deletes the hop-by-hop headers from h, including every
// header the Connection header names (RFC 9110 section 7.6.1).
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range httpsyntax.HopHeaders {
		delete(h, name)
	}
}

// upgradeType returns the protocol a request or response asks to upgrade
// to ("websocket"), or "" when it does not ask for an upgrade.
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for token := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(token), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// setHeader is one compiled `proxy_set_header`.
type setHeader struct {
	// name in canonical form, the key of http.Header.
	name  string
	value *vars.Template
	// host marks the Host header, which Go sends from Request.Host.
	host bool
	// replaces says a field of the name may be in the list already: an
	// earlier proxy_set_header of it, or the Connection and Upgrade an
	// upgrade adds (outgoingRequest). Only then is the list searched.
	replaces bool
}

// compileHeaders compiles a proxy_set_header list; an unknown variable is
// an error naming the directive's file and line.
func compileHeaders(g *vars.Registry, list []config.Header) ([]setHeader, error) {
	out := make([]setHeader, 0, len(list))
	for _, h := range list {
		t, err := g.Compile(h.Value)
		if err != nil {
			return nil, &config.Error{Pos: h.Pos, Msg: err.Error()}
		}
		name := textproto.CanonicalMIMEHeaderKey(h.Name)
		replaces := name == "Connection" || name == "Upgrade"
		for _, o := range out {
			replaces = replaces || o.name == name
		}
		out = append(out, setHeader{name: name, value: t, host: name == "Host", replaces: replaces})
	}
	return out, nil
}
