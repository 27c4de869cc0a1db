package config

import (
	"slices"
	"strings"
)

// This file reads proxy_pass with variables (the container pattern
// `set $app app:8080; proxy_pass http://$app;`): the target is found per
// request, so the location needs the resolver of its level, which nginx
// inherits from server and http like any core setting.

// proxyPassVars handles a proxy_pass whose URL holds variables. As in
// nginx, the whole URL is read per request, its scheme too (a URL that
// then starts with neither http:// nor https:// fails that request); only
// what is certain now is refused. The variables are checked when the
// location is compiled (an unknown one is nginx's `unknown "x" variable`).
func (b *builder) proxyPassVars(d *Directive, loc *Location, url string) error {
	pp := &ProxyPass{Pos: d.Pos(), URL: url, Target: url}
	lower := strings.ToLower(url)
	for _, scheme := range []string{"http", "https"} {
		if rest, ok := strings.CutPrefix(lower, scheme+"://"); ok {
			pp.Scheme = scheme
			if strings.HasPrefix(rest, "unix:") {
				return d.errorf("unix sockets are not supported")
			}
			if rest == "" || rest[0] == '/' || rest[0] == '?' {
				return d.errorf("no host in upstream %q", url[len(scheme)+3:])
			}
		}
	}
	loc.ProxyPass = pp
	return nil
}

// finishPassResolvers gives every proxy_pass with variables the resolver
// and resolver_timeout of its location, else of the enclosing locations,
// its server, or http; a level whose resolver serves one is used, and no
// longer listed as ignored.
func (b *builder) finishPassResolvers() {
	used := map[Pos]bool{}
	var walk func(lcs []*locationConf, inherited resolverLevel)
	walk = func(lcs []*locationConf, inherited resolverLevel) {
		for _, lc := range lcs {
			lv := inherited
			if own := b.otherResolvers[&lc.proxy]; own != nil {
				lv = mergeResolver(own, &inherited)
			}
			if pp := lc.loc.ProxyPass; pp != nil && pp.Target != "" {
				pp.Resolver, pp.ResolverTimeout = lv.resolver, DefaultResolverTimeout
				if lv.timeoutSet {
					pp.ResolverTimeout = lv.timeout
					used[lv.timeoutPos] = true
				}
				if lv.resolver != nil {
					used[lv.pos] = true
				}
			}
			walk(lc.children, lv)
		}
	}
	for _, sc := range b.servers {
		lv := b.httpResolver
		if own := b.otherResolvers[&sc.proxy]; own != nil {
			lv = mergeResolver(own, &b.httpResolver)
		}
		walk(sc.locs, lv)
	}
	if used[b.httpResolver.pos] && b.httpResolver.resolver != nil || used[b.httpResolver.timeoutPos] && b.httpResolver.timeoutSet {
		b.httpResolver.used = true
	}
	b.cfg.Ignored = slices.DeleteFunc(b.cfg.Ignored, func(ig Ignored) bool {
		return (ig.Name == "resolver" || ig.Name == "resolver_timeout") && used[ig.Pos]
	})
}

// mergeResolver is a level's resolver settings with what it leaves unset
// taken from its parent's.
func mergeResolver(own, parent *resolverLevel) resolverLevel {
	lv := *own
	if lv.resolver == nil {
		lv.resolver, lv.pos = parent.resolver, parent.pos
	}
	if !lv.timeoutSet {
		lv.timeout, lv.timeoutSet, lv.timeoutPos = parent.timeout, parent.timeoutSet, parent.timeoutPos
	}
	return lv
}
