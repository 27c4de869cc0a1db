package config

import "testing"

// TestAliasInRegexLocation: alias with captures in a regex location is
// the whole path, kept as written to be expanded per request, as
// nginx's; without variables it is the whole path too.
func TestAliasInRegexLocation(t *testing.T) {
	tests := []struct {
		name, src string
		root      string
		vars      bool
	}{
		{"positional capture", `location ~ ^/u/(.+)$ { alias /srv/$1; }`, "/srv/$1", true},
		{"named capture", `location ~ ^/u/(?<f>.+)$ { alias /srv/$f; }`, "/srv/$f", true},
		{"caseless", `location ~* ^/u/(.+)$ { alias /srv/x$1; }`, "/srv/x$1", true},
		{"no variable", `location ~ ^/u/ { alias /srv/file.txt; }`, "/srv/file.txt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, "server { listen 127.0.0.1:8080; "+tt.src+" }")
			st := cfg.Servers[0].Locations[0].Proxy.Static
			if !st.Alias || !st.AliasWhole || st.AliasPrefix != "" || st.Root != tt.root || st.RootVars != tt.vars {
				t.Errorf("Alias %v AliasWhole %v AliasPrefix %q Root %q RootVars %v, want true true \"\" %q %v",
					st.Alias, st.AliasWhole, st.AliasPrefix, st.Root, st.RootVars, tt.root, tt.vars)
			}
		})
	}
}
