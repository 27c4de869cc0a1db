package balance

import (
	"testing"
)

func TestLeastConn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		active  []int // requests in flight per server, set with Begin
		down    []int
		want    string // successive picks, the active counts unchanged between them
	}{
		{"fewest active wins", []int{1, 1, 1}, []int{2, 1, 0}, nil, "ccc"},
		{"weight scales the count", []int{3, 1}, []int{2, 1}, nil, "aaa"}, // 2/3 < 1/1
		{"higher weight loses when busier per weight", []int{2, 1}, []int{3, 1}, nil, "bbb"},
		{"all idle: smooth round-robin", []int{1, 1, 1}, []int{0, 0, 0}, nil, "abcabc"},
		{"tie weighted like nginx", []int{5, 1, 1}, []int{0, 0, 0}, nil, "aabacaa"},
		{"tie on ratio, not count", []int{2, 1}, []int{2, 1}, nil, "abaaba"},
		{"tie only among the least loaded", []int{1, 1, 1}, []int{1, 0, 0}, nil, "bcbc"},
		{"down server skipped", []int{1, 1, 1}, []int{1, 0, 1}, []int{1}, "acac"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newServers(tc.weights...)
			for i, n := range tc.active {
				for range n {
					ss[i].Begin()
				}
			}
			for _, i := range tc.down {
				ss[i].SetDown(true)
			}
			if got := letters(ss, pickN(NewLeastConn(ss), nil, skipDown, len(tc.want))); got != tc.want {
				t.Errorf("picks = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLeastConnFollowsLoad plays requests that start and never finish: each
// pick adds one to the chosen server, so the picks must keep the servers'
// active counts in proportion to their weights.
func TestLeastConnFollowsLoad(t *testing.T) {
	ss := newServers(3, 1, 2)
	lc := NewLeastConn(ss)
	for range 60 {
		lc.Pick(nil, nil).Begin()
	}
	for i, want := range []int64{30, 10, 20} {
		if got := ss[i].Active(); got != want {
			t.Errorf("server %d: %d active, want %d", i, got, want)
		}
	}
	// Finishing requests on one server sends the next ones there.
	for range 5 {
		ss[1].End()
	}
	if got := letters(ss, pickN(lc, nil, nil, 1)); got != "b" {
		t.Errorf("after server b freed up, pick = %s, want b", got)
	}
}
