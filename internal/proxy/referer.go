package proxy

import (
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/vars"
)

// This file compiles valid_referers (config.Referers) into what
// $invalid_referer checks (vars.Referers), for each location of a server:
// `server_names` needs the server's names, which a location's settings do
// not carry. Locations that inherit one valid_referers share its compiled
// form.

// compileReferers gives every location of vs, its if blocks' and the
// server's own, the compiled valid_referers it is under.
func (vs *virtualServer) compileReferers(s *config.Server) error {
	done := make(map[*config.Referers]*vars.Referers)
	set := func(cl *location) error {
		ref := cl.cfg.Proxy.Referers
		if ref == nil {
			return nil
		}
		if c, ok := done[ref]; ok {
			cl.referers = c
			return nil
		}
		c, err := buildReferers(ref, s)
		if err != nil {
			return err
		}
		done[ref], cl.referers = c, c
		return nil
	}
	var inScript func([]stmt) error
	inScript = func(list []stmt) error {
		for i := range list {
			if l := list[i].loc; l != nil {
				if err := set(l); err != nil {
					return err
				}
			}
			if err := inScript(list[i].body); err != nil {
				return err
			}
		}
		return nil
	}
	all := []*location{vs.noLocation}
	for _, cl := range vs.compiled {
		all = append(all, cl)
	}
	for _, cl := range vs.named {
		all = append(all, cl)
	}
	for _, cl := range all {
		if err := set(cl); err != nil {
			return err
		}
		if err := inScript(cl.script); err != nil {
			return err
		}
	}
	if vs.rewrites != nil {
		return inScript(vs.rewrites.script)
	}
	return nil
}

// buildReferers compiles one valid_referers for server s, as
// ngx_http_referer_merge_conf: `server_names` adds the exact and wildcard
// names to the hosts and the regex names to those tried on the host, and
// `none` or `blocked` without any host is nginx's error.
func buildReferers(ref *config.Referers, s *config.Server) (*vars.Referers, error) {
	c := vars.NewReferers(ref.None, ref.Blocked)
	hosts := 0
	for _, h := range ref.Hosts {
		c.AddHost(h.Host, h.URI)
		hosts++
	}
	if ref.ServerNames {
		for _, n := range s.Names {
			if re := s.NameRegexps[n]; re != nil {
				c.AddNameRegexp(re)
				continue
			}
			c.AddHost(n, "")
			hosts++
		}
	}
	for _, re := range ref.Regexps {
		c.AddRegexp(re)
	}
	if (ref.None || ref.Blocked) && hosts == 0 {
		return nil, &config.Error{Pos: ref.Pos, Msg: `the "none" or "blocked" referers are specified in the "valid_referers" directive without any valid referer`}
	}
	return c, nil
}
