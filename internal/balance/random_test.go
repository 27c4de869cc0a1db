package balance

import (
	"math/rand/v2"
	"testing"
)

// seeded returns a deterministic rnd for NewRandom. It is not safe for
// concurrent use, which single-goroutine tests do not need.
func seeded(seed uint64) func(int) int {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).IntN
}

// scripted returns an rnd that answers the given draws in turn, then
// repeats the last one, so a test can say exactly which servers are drawn.
func scripted(draws ...int) func(int) int {
	return func(n int) int {
		x := draws[0]
		if len(draws) > 1 {
			draws = draws[1:]
		}
		return x % n
	}
}

func TestRandomDistribution(t *testing.T) {
	const picks = 100_000
	for _, tc := range []struct {
		name    string
		weights []int
		down    []int
		want    []float64 // expected share per server
	}{
		{"equal", []int{1, 1, 1, 1}, nil, []float64{.25, .25, .25, .25}},
		{"weighted", []int{5, 3, 1, 1}, nil, []float64{.5, .3, .1, .1}},
		{"down server's share spread by weight", []int{5, 3, 1, 1}, []int{0}, []float64{0, .6, .2, .2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := newServers(tc.weights...)
			for _, i := range tc.down {
				ss[i].SetDown(true)
			}
			got := counts(ss, pickN(NewRandom(ss, false, seeded(1)), nil, skipDown, picks))
			for i, share := range tc.want {
				if f := float64(got[i]) / picks; f < share-0.01 || f > share+0.01 {
					t.Errorf("server %d: share %.3f, want %.2f±0.01 (counts %v)", i, f, share, got)
				}
			}
		})
	}
}

// TestRandomDraw checks the mapping from a draw in [0, total weight) to a
// server: each server owns a run of draws as long as its weight.
func TestRandomDraw(t *testing.T) {
	ss := newServers(2, 1, 3)
	want := "aabccc"
	for x := range 6 {
		r := NewRandom(ss, false, scripted(x))
		if got := letters(ss, pickN(r, nil, nil, 1)); got != want[x:x+1] {
			t.Errorf("draw %d: pick %s, want %s", x, got, want[x:x+1])
		}
	}
}

func TestRandomTwo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights []int
		active  []int
		down    []int
		draws   []int // draws in [0, total weight)
		want    string
	}{
		{"second less loaded", []int{1, 1, 1}, []int{3, 0, 1}, nil, []int{0, 1}, "b"},
		{"first less loaded", []int{1, 1, 1}, []int{3, 0, 1}, nil, []int{1, 0}, "b"},
		{"per weight", []int{4, 1}, []int{2, 1}, nil, []int{4, 0}, "a"}, // 2/4 < 1/1
		{"tie keeps the second, as nginx", []int{1, 1}, []int{1, 1}, nil, []int{0, 1}, "b"},
		{"same server drawn twice is drawn again", []int{1, 1, 1}, []int{0, 5, 9}, nil, []int{2, 2, 1}, "b"},
		{"down server drawn again", []int{1, 1, 1}, []int{0, 0, 0}, []int{0}, []int{0, 2, 0, 1}, "b"},
		// Only c is usable: no second server can be found, so after 21
		// draws round-robin takes over and finds c.
		{"one usable falls back to round-robin", []int{1, 1, 1}, []int{0, 0, 0}, []int{0, 1}, []int{2}, "c"},
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
			r := NewRandom(ss, true, scripted(tc.draws...))
			if got := letters(ss, pickN(r, nil, skipDown, 1)); got != tc.want {
				t.Errorf("pick = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRandomTwoSpreadsLoad checks the point of `random two`: requests that
// never finish end up nearly even, far more even than one draw makes them.
func TestRandomTwoSpreadsLoad(t *testing.T) {
	ss := newServers(1, 1, 1, 1)
	r := NewRandom(ss, true, seeded(7))
	for range 400 {
		r.Pick(nil, nil).Begin()
	}
	for i, s := range ss {
		if a := s.Active(); a < 95 || a > 105 {
			t.Errorf("server %d: %d active, want 100±5", i, a)
		}
	}
}

// TestRandomFallback checks that draws landing on unusable servers give
// up after nginx's 21 tries and that round-robin then finds the live one.
func TestRandomFallback(t *testing.T) {
	ss := newServers(1, 1, 1)
	ss[0].SetDown(true)
	ss[1].SetDown(true)
	draws := 0
	r := NewRandom(ss, false, func(n int) int { draws++; return 0 })
	if got := letters(ss, pickN(r, nil, skipDown, 1)); got != "c" {
		t.Errorf("pick = %s, want c", got)
	}
	if draws != maxTries+1 {
		t.Errorf("%d draws before the fallback, want %d as nginx", draws, maxTries+1)
	}
}
