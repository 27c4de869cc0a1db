package live

import (
	"testing"
	"time"

	"github.com/limpet-lb/limpet/internal/balance"
	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/sticky"
	"github.com/limpet-lb/limpet/internal/upstream"
)

func server(addr string) *upstream.Server {
	return &upstream.Server{ID: upstream.IDFor(addr, ""), Name: addr, Addr: addr, Weight: 1}
}

func keep(servers ...*upstream.Server) func([]*upstream.Server) ([]*upstream.Server, error) {
	return func([]*upstream.Server) ([]*upstream.Server, error) { return servers, nil }
}

// Servers are numbered for the API once, in order; a server that
// inherits another's state keeps its number and health, and numbering
// goes on after the largest; dropped IDs are remembered as removed.
func TestUpdateNumbersServersAndRemembersRemoved(t *testing.T) {
	a, b := server("10.0.0.1:80"), server("10.0.0.2:80")
	u := New("app", Policy{}, []*upstream.Server{a, b})
	if a.APIID != 0 || b.APIID != 1 {
		t.Fatalf("API ids %d %d, want 0 1", a.APIID, b.APIID)
	}
	u.SetMandatoryChecks(true)
	a.SetHealth(upstream.HealthHealthy, time.Now())
	a2 := server("10.0.0.1:80")
	a2.MaxFails = 5
	a2.Inherit(a)
	c := server("10.0.0.3:80")
	if err := u.Update(keep(a2, c)); err != nil {
		t.Fatal(err)
	}
	if a2.APIID != 0 || a2.Health() != upstream.HealthHealthy {
		t.Errorf("inheriting server: API id %d health %v, want 0 and healthy", a2.APIID, a2.Health())
	}
	if c.APIID != 2 || c.Health() != upstream.HealthChecking {
		t.Errorf("new server under a mandatory check: API id %d health %v, want 2 and checking", c.APIID, c.Health())
	}
	p := u.Pool()
	if !p.WasRemoved(b.ID) || p.WasRemoved(a.ID) || p.Lookup(a.ID) != a2 {
		t.Errorf("removed %v, a removed %v, a looked up as the new server %v", p.WasRemoved(b.ID), p.WasRemoved(a.ID), p.Lookup(a.ID) == a2)
	}
	if err := u.Update(keep(a2, c, b)); err != nil {
		t.Fatal(err)
	}
	if u.Pool().WasRemoved(b.ID) {
		t.Error("a server added back is still listed as removed")
	}
}

// Reconfigure swaps the policy with the servers in one snapshot: a
// request that loaded the old snapshot keeps the old policy whole.
func TestReconfigureSwapsPolicyAndServersTogether(t *testing.T) {
	a := server("10.0.0.1:80")
	u := New("app", Policy{}, []*upstream.Server{a})
	before := u.Load()
	cookie := sticky.NewCookie(config.StickyCookie{Name: "srv"})
	b := server("10.0.0.2:80")
	err := u.Reconfigure(Policy{Sticky: cookie, NoBackup: true, Balancers: func(p, _ []*upstream.Server) (balance.Balancer, balance.Balancer) {
		return balance.NewLeastConn(p), nil
	}}, keep(a, b))
	if err != nil {
		t.Fatal(err)
	}
	after := u.Load()
	if before.Sticky != nil || len(before.Pool.All()) != 1 {
		t.Error("the snapshot a request holds changed")
	}
	if after.Sticky != cookie || !after.NoBackup || len(after.Pool.All()) != 2 {
		t.Errorf("new snapshot: sticky %v, no backup %v, %d servers", after.Sticky != nil, after.NoBackup, len(after.Pool.All()))
	}
	if err := u.Update(keep(a)); err != nil {
		t.Fatal(err)
	}
	if u.Load().Sticky != cookie {
		t.Error("Update without a policy dropped the policy")
	}
	if _, ok := u.Load().Primary.(*balance.LeastConn); !ok {
		t.Errorf("Update rebuilt the balancer as %T, want the policy's least_conn", u.Load().Primary)
	}
}
