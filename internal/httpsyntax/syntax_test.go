package httpsyntax

import (
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	for s, want := range map[string]bool{
		"GET": true, "X-Forwarded-For": true, "a!#$%&'*+-.^_`|~z09": true,
		"": false, "Bad Name": false, "Bad:": false, "a@b": false, "X{": false, "Bäd": false, "a\x00": false,
	} {
		if got := ValidToken(s); got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidHost(t *testing.T) {
	for s, want := range map[string]bool{
		"example.com": true, "example.com:8080": true, "[::1]:80": true, "": true, "a_b~c": true,
		"a b": false, "a/b": false, "a\r\nb": false, "a@b": false,
	} {
		if got := ValidHost(s); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestClientHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"example.com", true},
		{"Example.COM:8080", true},
		{"example.com.", true},
		{".example.com", true}, // one leading dot is no empty label
		{"host:", true},        // an empty port, as nginx reads it
		{"host:65535", true},
		{"127.0.0.1:80", true},
		{"[::1]", true},
		{"[::1]:8080", true},
		{"[2001:DB8::1]", true},
		{"a_b~c!$&'()*+,;=%41", true},
		{"", false},
		{".", false},
		{"..example.com", false},
		{"a..b", false},
		{"host:98777", false},
		{"host:65536", false},
		{"a:9000:80", false},
		{"host:8x", false},
		{"[::1", false},
		{"[::1]x", false},
		{"[::1]:8x", false},
		{"[%41]", false},
		{"a[b", false},
		{"a b", false},
		{"a/b", false},
		{"a@b", false},
		{"a\x00b", false},
		{"a\r\nb", false},
		{"caf\xc3\xa9", false},
	}
	for _, tt := range tests {
		if got := ClientHost(tt.host); got != tt.want {
			t.Errorf("ClientHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestHasToken(t *testing.T) {
	tests := []struct {
		values []string
		token  string
		want   bool
	}{
		{[]string{"close"}, "close", true},
		{[]string{"keep-alive, Close"}, "close", true},
		{[]string{"x", " upgrade ,y"}, "Upgrade", true},
		{[]string{"closed"}, "close", false},
		{nil, "close", false},
		{[]string{""}, "close", false},
		{[]string{"\tclose\t,"}, "close", true},
		{[]string{"clo\u017fe"}, "close", false},           // ſ folds to s in Unicode, not in HTTP
		{[]string{"\u212aeep-alive"}, "keep-alive", false}, // the Kelvin sign folds to k
	}
	for _, tc := range tests {
		if got := HasToken(tc.values, tc.token); got != tc.want {
			t.Errorf("HasToken(%q, %q) = %v, want %v", tc.values, tc.token, got, tc.want)
		}
	}
}

func TestHopByHop(t *testing.T) {
	for _, name := range HopHeaders {
		for _, n := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			if !HopByHop(n) {
				t.Errorf("HopByHop(%q) = false", n)
			}
		}
	}
	for _, name := range []string{"", "Host", "Cookie", "Connections", "Tee", "Proxy-Connectio", "X-Upgrade", "Content-Length"} {
		if HopByHop(name) {
			t.Errorf("HopByHop(%q) = true", name)
		}
	}
}
