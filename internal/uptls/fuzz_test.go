package uptls

import (
	"slices"
	"testing"
)

// FuzzCipherSuites: any list either fails or gives suites of the table,
// each once.
func FuzzCipherSuites(f *testing.F) {
	for _, s := range []string{"DEFAULT", "HIGH:!aNULL:!MD5", "EECDH+AESGCM:EDH+AESGCM", "ALL:-ECDHE:@STRENGTH", "!", "+", "::", "a+"} {
		f.Add(s)
	}
	known := make([]uint16, 0, len(openSSLSuites))
	for _, id := range openSSLSuites {
		known = append(known, id)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ids, err := CipherSuites(list)
		if err != nil {
			return
		}
		seen := map[uint16]bool{}
		for _, id := range ids {
			if !slices.Contains(known, id) || seen[id] {
				t.Fatalf("%q gave %x", list, ids)
			}
			seen[id] = true
		}
	})
}
