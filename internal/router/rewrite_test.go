package router

import (
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
)

func TestUpstreamURI(t *testing.T) {
	withURI := func(uri string) *config.ProxyPass {
		return &config.ProxyPass{URL: "http://b" + uri, Scheme: "http", Host: "b:80", HasURI: true, URI: uri}
	}
	noURI := &config.ProxyPass{URL: "http://b", Scheme: "http", Host: "b:80"}
	prefix := func(p string) *config.Location { return &config.Location{Path: p} }

	tests := []struct {
		name       string
		pp         *config.ProxyPass
		loc        *config.Location
		prefix     string
		path       string
		rawQuery   string
		requestURI string
		want       string
	}{
		{"docs example", withURI("/remote/"), prefix("/name/"), "/name/", "/name/x", "", "/name/x", "/remote/x"},
		{"args kept", withURI("/remote/"), prefix("/name/"), "/name/", "/name/x", "a=1&b=%20", "/name/x?a=1&b=%20", "/remote/x?a=1&b=%20"},
		{"root URI strips the prefix", withURI("/"), prefix("/name/"), "/name/", "/name/x/y", "", "/name/x/y", "/x/y"},
		{"no trailing slash joins", withURI("/v1"), prefix("/api"), "/api", "/apix", "", "/apix", "/v1x"},
		{"path equal to prefix", withURI("/remote/"), prefix("/name/"), "/name/", "/name/", "q", "/name/?q", "/remote/?q"},
		{"exact location", withURI("/auth"), &config.Location{Modifier: "=", Path: "/login"}, "/login", "/login", "", "/login", "/auth"},
		{"normalized path is sent", withURI("/r/"), prefix("/n/"), "/n/", "/n/b", "", "/n/a/../b", "/r/b"},
		{"re-escaped", withURI("/r/"), prefix("/n/"), "/n/", "/n/a b/é/%/?/#/\"{}", "", "/n/a%20b/%C3%A9/%25/%3F/%23/%22%7B%7D", "/r/a%20b/%C3%A9/%25/%3F/%23/%22%7B%7D"},
		{"sub-delims kept", withURI("/r/"), prefix("/n/"), "/n/", "/n/a;b,c=d&e+f:g@h!$'()*~", "", "/n/a;b,c=d&e+f:g@h!$'()*~", "/r/a;b,c=d&e+f:g@h!$'()*~"},
		{"decoded %2F stays a slash", withURI("/r/"), prefix("/n/"), "/n/", "/n/a/b", "", "/n/a%2Fb", "/r/a/b"},
		{"proxy_pass URI sent as written", withURI("/r%20x/"), prefix("/n/"), "/n/", "/n/y", "", "/n/y", "/r%20x/y"},
		{"no URI part: request URI unchanged", noURI, prefix("/name/"), "/name/", "/name/a b", "x=1", "/name/a%20b?x=1", "/name/a%20b?x=1"},
		{"no URI part keeps unnormalized form", noURI, prefix("/"), "/", "/b", "", "//a/../b", "//a/../b"},
		{"regex location: request URI unchanged", withURI("/r/"), &config.Location{Modifier: "~", Path: `\.php$`}, "", "/x.php", "a", "/x.php?a", "/x.php?a"},
		{"caseless regex location", withURI("/r/"), &config.Location{Modifier: "~*", Path: `\.php$`}, "", "/x.PHP", "", "/x.PHP", "/x.PHP"},
		{"absolute-form target", noURI, prefix("/"), "/", "/p", "q=1", "http://example.com/p?q=1", "/p?q=1"},
		{"absolute-form without path", noURI, prefix("/"), "/", "/", "q=1", "http://example.com?q=1", "/?q=1"},
		{"absolute-form bare", noURI, prefix("/"), "/", "/", "", "http://example.com", "/"},
		{"nil proxy_pass", nil, prefix("/"), "/", "/p", "", "/p", "/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UpstreamURI(tt.pp, tt.loc, tt.prefix, tt.path, tt.rawQuery, tt.requestURI)
			if got != tt.want {
				t.Errorf("UpstreamURI = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkUpstreamURI(b *testing.B) {
	pp := &config.ProxyPass{URL: "http://b/remote/", HasURI: true, URI: "/remote/"}
	l := &config.Location{Path: "/name/"}
	b.ReportAllocs()
	for b.Loop() {
		UpstreamURI(pp, l, "/name/", "/name/users/42/profile", "tab=1", "/name/users/42/profile?tab=1")
	}
}
