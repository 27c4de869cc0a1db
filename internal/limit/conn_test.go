package limit

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/limpet-lb/limpet/internal/vars"
)

func newConns(t *testing.T, buf *logBuffer, o ConnOptions, rules ...ConnRule) *Conns {
	t.Helper()
	o.Log = buf.logger()
	if o.Status == 0 {
		o.Status = 503
	}
	l, err := NewConns(rules, o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestConnLimit takes a key's counts up to the limit, refuses the next,
// and checks that releasing one lets the next in and that a state whose
// count falls to zero is freed.
func TestConnLimit(t *testing.T) {
	buf := &logBuffer{}
	z := NewConnZone("addr", vars.MustCompile("$remote_addr"), 1<<20)
	l := newConns(t, buf, ConnOptions{Level: slog.LevelInfo, Status: 429}, ConnRule{Zone: z, Max: 2})
	vr := request("/", "192.0.2.1:1")
	var h1, h2, h3 Held
	if d := l.Acquire(vr, &h1); d.Outcome != Passed {
		t.Fatalf("first: %+v", d)
	}
	if d := l.Acquire(vr, &h2); d.Outcome != Passed {
		t.Fatalf("second: %+v", d)
	}
	if d := l.Acquire(vr, &h3); d.Outcome != Rejected || d.Status != 429 {
		t.Fatalf("third: %+v, want rejected with 429", d)
	}
	if n := z.Count("192.0.2.1"); n != 2 {
		t.Errorf("count %d, want 2", n)
	}
	other := request("/", "192.0.2.2:1")
	var h4 Held
	if d := l.Acquire(other, &h4); d.Outcome != Passed {
		t.Errorf("another client: %+v", d)
	}
	h1.Release()
	h1.Release() // a second call gives back nothing
	if n := z.Count("192.0.2.1"); n != 1 {
		t.Errorf("count after a release %d, want 1", n)
	}
	if d := l.Acquire(vr, &h3); d.Outcome != Passed {
		t.Errorf("after a release: %+v", d)
	}
	h2.Release()
	h3.Release()
	h4.Release()
	if n := z.Busy(); n != 0 {
		t.Errorf("zone has %d busy keys after every release, want 0", n)
	}
	mustContain(t, buf.String(), `level=INFO msg="limiting connections by zone \"addr\"" client=192.0.2.1 server=localhost request="GET / HTTP/1.1"`)
}

// TestConnRejectReleasesAll checks that a request refused by a later zone
// gives back the count an earlier zone gave it, and that in a dry run
// the refused request goes on holding nothing.
func TestConnRejectReleasesAll(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprint("dry_run=", dry), func(t *testing.T) {
			buf := &logBuffer{}
			perClient := NewConnZone("client", vars.MustCompile("$binary_remote_addr"), 1<<20)
			perServer := NewConnZone("server", vars.MustCompile("$server_name"), 1<<20)
			l := newConns(t, buf, ConnOptions{DryRun: dry, Level: slog.LevelError},
				ConnRule{Zone: perClient, Max: 10}, ConnRule{Zone: perServer, Max: 1})
			var first, second Held
			if d := l.Acquire(request("/", "192.0.2.1:1"), &first); d.Outcome != Passed {
				t.Fatalf("first: %+v", d)
			}
			d := l.Acquire(request("/", "192.0.2.2:1"), &second)
			want := Rejected
			msg := `level=ERROR msg="limiting connections by zone \"server\""`
			if dry {
				want = RejectedDryRun
				msg = `level=ERROR msg="limiting connections, dry run, by zone \"server\""`
			}
			if d.Outcome != want {
				t.Fatalf("second: %+v, want %v", d, want)
			}
			if second.n != 0 || perClient.Count("\xc0\x00\x02\x02") != 0 || perClient.Busy() != 1 {
				t.Errorf("the refused request holds %d counts; zone %q has %d busy keys, want 1", second.n, "client", perClient.Busy())
			}
			mustContain(t, buf.String(), msg)
			first.Release()
			if perClient.Busy()+perServer.Busy() != 0 {
				t.Errorf("states left after every release")
			}
		})
	}
}

// TestConnEmptyKey checks that a request whose keys are all empty is not
// counted and has no outcome.
func TestConnEmptyKey(t *testing.T) {
	buf := &logBuffer{}
	z := NewConnZone("user", vars.MustCompile("$arg_user"), 1<<20)
	l := newConns(t, buf, ConnOptions{}, ConnRule{Zone: z, Max: 1})
	var a, b Held
	if d := l.Acquire(request("/", "192.0.2.1:1"), &a); d.Outcome != None {
		t.Errorf("%+v, want none", d)
	}
	if d := l.Acquire(request("/", "192.0.2.1:1"), &b); d.Outcome != None {
		t.Errorf("%+v, want none", d)
	}
	if n := len(z.t.shards[0].m); n != 0 || z.Busy() != 0 {
		t.Errorf("zone holds states for empty keys")
	}
}

// TestConnZoneFull checks that a full zone refuses a new key, with
// nginx's message, and keeps counting the keys it holds.
func TestConnZoneFull(t *testing.T) {
	buf := &logBuffer{}
	z := NewConnZone("k", vars.MustCompile("$arg_k"), minSize())
	l := newConns(t, buf, ConnOptions{}, ConnRule{Zone: z, Max: 5})
	per := int(z.t.shards[0].budget / StateCost(4))
	keys := keysInShard(z.t, 0, per+1)
	held := make([]Held, per+1)
	for i, k := range keys[:per] {
		if d := l.Acquire(request("/?k="+k, "192.0.2.1:1"), &held[i]); d.Outcome != Passed {
			t.Fatalf("key %d: %+v", i, d)
		}
	}
	if d := l.Acquire(request("/?k="+keys[per], "192.0.2.1:1"), &held[per]); d.Outcome != Rejected {
		t.Fatalf("new key in a full zone: %+v", d)
	}
	mustContain(t, buf.String(), `could not allocate node in limit_conn_zone \"k\"`)
	// A key whose requests have all ended is freed for a new one: the
	// least recently released first.
	held[3].Release()
	held[1].Release()
	if d := l.Acquire(request("/?k="+keys[per], "192.0.2.1:1"), &held[per]); d.Outcome != Passed {
		t.Fatalf("new key after a state was released: %+v", d)
	}
	sh := &z.t.shards[0]
	sh.mu.Lock()
	gone3, kept1 := sh.get([]byte(keys[3])) == nil, sh.get([]byte(keys[1])) != nil
	sh.mu.Unlock()
	if !gone3 || !kept1 {
		t.Errorf("freed the wrong state: key 3 freed %v, key 1 kept %v", gone3, kept1)
	}
	// The kept state is reused, not made again.
	if d := l.Acquire(request("/?k="+keys[1], "192.0.2.1:1"), &held[1]); d.Outcome != Passed {
		t.Fatalf("released key again: %+v", d)
	}
	if n := z.Count(keys[1]); n != 1 {
		t.Errorf("count of the reused key %d, want 1", n)
	}
}

// TestConnConcurrent takes and gives back counts from many goroutines:
// never more than the limit in flight, nothing left at the end.
func TestConnConcurrent(t *testing.T) {
	buf := &logBuffer{}
	z := NewConnZone("k", vars.MustCompile("$arg_k"), 1<<20)
	l := newConns(t, buf, ConnOptions{Level: slog.LevelInfo}, ConnRule{Zone: z, Max: 3})
	var mu sync.Mutex // guards inFlight and over
	inFlight := map[string]int{}
	over := false
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			key := fmt.Sprint(g % 4)
			vr := request("/?k="+key, "192.0.2.1:1")
			for range 200 {
				var h Held
				if l.Acquire(vr, &h).Outcome != Passed {
					continue
				}
				mu.Lock()
				inFlight[key]++
				over = over || inFlight[key] > 3
				mu.Unlock()
				mu.Lock()
				inFlight[key]--
				mu.Unlock()
				h.Release()
			}
		})
	}
	wg.Wait()
	if over {
		t.Error("more than 3 requests of a key were in flight")
	}
	if z.Busy() != 0 {
		t.Errorf("zone has %d busy keys after every release", z.Busy())
	}
}

// TestConnZoneWithKey: a zone with its key replaced (a reload that keeps
// the zone) counts in the same states as the original, with the new key:
// requests held under the old key still count against the limit.
func TestConnZoneWithKey(t *testing.T) {
	buf := &logBuffer{}
	old := NewConnZone("addr", vars.MustCompile("$remote_addr"), 1<<20)
	renewed := old.WithKey(vars.MustCompile("${remote_addr}"))
	lOld := newConns(t, buf, ConnOptions{Status: 503}, ConnRule{Zone: old, Max: 2})
	lNew := newConns(t, buf, ConnOptions{Status: 503}, ConnRule{Zone: renewed, Max: 2})
	vr := request("/", "192.0.2.1:1")
	var h1, h2, h3 Held
	if d := lOld.Acquire(vr, &h1); d.Outcome != Passed {
		t.Fatalf("under the old key: %+v", d)
	}
	if d := lNew.Acquire(vr, &h2); d.Outcome != Passed {
		t.Fatalf("under the new key: %+v", d)
	}
	if d := lNew.Acquire(vr, &h3); d.Outcome != Rejected {
		t.Fatalf("third, new key: %+v, want rejected: the old key's request still counts", d)
	}
	h1.Release()
	if n := renewed.Count("192.0.2.1"); n != 1 {
		t.Errorf("count %d after the old request ended, want 1", n)
	}
	h2.Release()
}
