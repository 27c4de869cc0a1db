package config

import (
	"testing"
)

func TestContentHandlers(t *testing.T) {
	tests := []struct {
		name      string
		body      string // inside location / { }, from line 3
		api       *API
		metrics   bool
		dashboard bool
		proxy     bool // the location has proxy_pass
		ret       bool // the location has return
	}{
		{"api, read-only by default", "api;", &API{Pos: Pos{Line: 3}}, false, false, false, false},
		{"api write=on", "api write=on;", &API{Pos: Pos{Line: 3}, Write: true}, false, false, false, false},
		{"api write=off", "\napi write=off;", &API{Pos: Pos{Line: 4}}, false, false, false, false},
		{"metrics", "metrics;", nil, true, false, false, false},
		{"dashboard", "dashboard;", nil, false, true, false, false},
		{"proxy_pass with return: return answers", "proxy_pass http://10.0.0.1;\nreturn 503;", nil, false, false, true, true},
		{"return with proxy_pass", "return 503;\nproxy_pass http://10.0.0.1;", nil, false, false, true, true},
		{"nested location with another handler", "api;\nlocation /x { metrics; }", &API{Pos: Pos{Line: 3}}, false, false, false, false},
		{"none", "", nil, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "server {\n location / {\n"+tt.body+"\n }\n}")
			loc := cfg.Servers[0].Locations[0]
			api := loc.API
			if api != nil {
				a := *api
				a.Pos = noFile(a.Pos)
				api = &a
			}
			if (api == nil) != (tt.api == nil) || (api != nil && *api != *tt.api) {
				t.Errorf("API %+v, want %+v", api, tt.api)
			}
			if loc.Metrics != tt.metrics || loc.Dashboard != tt.dashboard ||
				(loc.ProxyPass != nil) != tt.proxy || (loc.Return != nil) != tt.ret {
				t.Errorf("metrics %t dashboard %t proxy_pass %v return %v", loc.Metrics, loc.Dashboard, loc.ProxyPass, loc.Return)
			}
		})
	}
}
