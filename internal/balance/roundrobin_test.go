package balance

import (
	"slices"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

func TestRoundRobinSequence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		want    string
	}{
		// nginx's own example in ngx_http_upstream_round_robin.c and
		// what nginx 1.22.1 answered for `server a weight=5; server b;
		// server c;`, twice over to show the period.
		{"nginx 5/1/1", []int{5, 1, 1}, "aabacaa" + "aabacaa"},
		{"equal", []int{1, 1, 1}, "abcabc"},
		{"2/1", []int{2, 1}, "abaaba"},
		{"single", []int{3}, "aaa"},
		{"weight 0 counts as 1", []int{0, 1}, "abab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newServers(tc.weights...)
			rr := NewRoundRobin(ss)
			if got := letters(ss, pickN(rr, nil, skipDown, len(tc.want))); got != tc.want {
				t.Errorf("sequence = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRoundRobinDistribution(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		down    []int // indexes marked down
		want    []int // picks per server over rounds*(total eligible weight) picks, then nil picks
		rounds  int
	}{
		{"proportional", []int{3, 2, 1, 4}, nil, []int{300, 200, 100, 400, 0}, 100},
		{"skip respected", []int{3, 2, 1, 4}, []int{1, 3}, []int{300, 0, 100, 0, 0}, 100},
		{"all down", []int{1, 1}, []int{0, 1}, []int{0, 0, 10}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newServers(tc.weights...)
			for _, i := range tc.down {
				ss[i].SetDown(true)
			}
			n := 0
			for i, w := range tc.weights {
				if !slices.Contains(tc.down, i) {
					n += w
				}
			}
			n = max(n, 1) * tc.rounds
			got := counts(ss, pickN(NewRoundRobin(ss), nil, skipDown, n))
			if !slices.Equal(got, tc.want) {
				t.Errorf("counts over %d picks = %v, want %v", n, got, tc.want)
			}
		})
	}
}

// TestRoundRobinSkipMidway checks that a server coming back after being
// skipped rejoins the rotation without a burst: nginx does not credit a
// skipped server with the weight it missed.
func TestRoundRobinSkipMidway(t *testing.T) {
	ss := newServers(1, 1, 1)
	rr := NewRoundRobin(ss)
	ss[1].SetDown(true)
	first := letters(ss, pickN(rr, nil, skipDown, 4))
	ss[1].SetDown(false)
	second := letters(ss, pickN(rr, nil, skipDown, 6))
	if first != "acac" || second != "abcabc" {
		t.Errorf("sequence = %s then %s, want acac then abcabc", first, second)
	}
}

// TestRoundRobinCopiesServers checks that the balancer keeps its own copy
// of the slice, so a caller reusing its slice cannot change the servers
// under a running balancer.
func TestRoundRobinCopiesServers(t *testing.T) {
	ss := newServers(1, 1)
	rr := NewRoundRobin(ss)
	orig := ss[0]
	ss[0] = &upstream.Server{Name: "intruder", Weight: 1}
	if got := rr.Pick(nil, nil); got != orig {
		t.Errorf("Pick = %s, want the original first server", got.Name)
	}
}
