package statuszone

import (
	"reflect"
	"sync"
	"testing"
)

// TestZoneCounts: Begin and End count requests, responses by class and
// code, discarded requests and bytes, from many goroutines at once.
func TestZoneCounts(t *testing.T) {
	z := &Zone{Name: "z"}
	var wg sync.WaitGroup
	for _, status := range []int{200, 200, 404, 503, 0, 700} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			z.Begin()
			z.End(status, 3, 5)
		}()
	}
	z.Begin() // one still in flight
	wg.Wait()
	got := z.Stats()
	want := Stats{Name: "z", Processing: 1, Requests: 7, Responses: [5]int64{0, 2, 0, 1, 1},
		Codes: map[int]int64{200: 2, 404: 1, 503: 1}, Discarded: 2, Received: 18, Sent: 30}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats %+v\nwant  %+v", got, want)
	}
}

// TestRegistry: the same kind and name give the same zone; a name may be
// a server zone and a location zone at once; SetActive lists the zones in
// order and forgets the others.
func TestRegistry(t *testing.T) {
	r := NewRegistry()
	zb, za := r.Zone(Server, "b"), r.Zone(Server, "a")
	la := r.Zone(Location, "a")
	if r.Zone(Server, "b") != zb || la == za {
		t.Fatal("zones not kept by kind and name")
	}
	zb.Begin()
	r.SetActive([]*Zone{la, zb, za})
	if got := r.Names(Server); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("server zones %q", got)
	}
	if got := r.Names(Location); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("location zones %q", got)
	}
	if got := r.Active(); len(got) != 3 || got[0] != za || got[1] != zb || got[2] != la {
		t.Errorf("active %v", got)
	}
	// A reload that keeps "b" only: its counters go on, the others are
	// forgotten and start afresh if named again.
	r.SetActive([]*Zone{r.Zone(Server, "b")})
	if r.Zone(Server, "b").Stats().Requests != 1 {
		t.Error("kept zone lost its counters")
	}
	if r.Zone(Server, "a") == za {
		t.Error("dropped zone came back with its counters")
	}
	if Location.String() != "location" || Server.String() != "server" {
		t.Error("kind names")
	}
}
