package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/limpet-lb/limpet/internal/config"
	"github.com/limpet-lb/limpet/internal/upstream"
)

// stateConf is an upstream whose servers live in a state file, with the
// API that changes them.
const stateConf = `
upstream backend { zone backend 64k; state {{state}}; sticky cookie srv; }
server { listen 127.0.0.1:0; access_log off; sticky_debug_header on;
    location / { proxy_pass http://backend; }
    location /api/ { api write=on; } }`

// readState returns the state file's content.
func readState(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	return string(data)
}

// The servers the API adds are kept in the state file, which a reload
// and a restart read back: the servers come back with their identity,
// so a user pinned to one stays a hit; a PATCH of down alone (no new
// snapshot) and of weight are kept too; a DELETE removes the line.
func TestStateKeepsAPIChanges(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	statePath := filepath.Join(t.TempDir(), "backend.state")
	repl := []string{"{{state}}", statePath}
	lb := startLimpet(t, stateConf, repl...)
	servers := lb.url + "/api/9/http/upstreams/backend/servers"
	client := newClient(t)
	client.Jar = nil // each request names its server itself
	idA, idB := upstream.IDFor(a.addr(), ""), upstream.IDFor(b.addr(), "")

	// A missing file is an empty group, as NGINX Plus starts one.
	if n := len(lb.rt.Upstream("backend").Pool().All()); n != 0 {
		t.Fatalf("%d servers before any was added, want none", n)
	}
	if res, _ := get(t, client, lb.url+"/"); res.StatusCode != 502 {
		t.Errorf("a request to the empty group: %d, want 502", res.StatusCode)
	}
	status, v := apiJSON(t, "GET", lb.url+"/api/9/http/upstreams/backend", "")
	if peers, ok := v["peers"].([]any); status != 200 || !ok || len(peers) != 0 {
		t.Errorf("the empty group through the API: %d %v, want 200 with no peers", status, v)
	}
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Errorf("state file before any change: %v, want none yet", err)
	}

	// POST: each addition is written.
	if status, v := apiJSON(t, "POST", servers, fmt.Sprintf(`{"server":%q,"weight":2}`, a.addr())); status != 201 {
		t.Fatalf("POST a: %d %v", status, v)
	}
	if status, v := apiJSON(t, "POST", servers, fmt.Sprintf(`{"server":%q,"max_fails":3,"fail_timeout":"30s"}`, b.addr())); status != 201 {
		t.Fatalf("POST b: %d %v", status, v)
	}
	want := fmt.Sprintf("server %s weight=2;\nserver %s max_fails=3 fail_timeout=30s;\n", a.addr(), b.addr())
	if got := readState(t, statePath); got != want {
		t.Errorf("state file after two POSTs:\n%s\nwant\n%s", got, want)
	}
	if got, label, _ := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" {
		t.Fatalf("user of a: %s %s, want a hit", got, label)
	}

	// PATCH down alone keeps the snapshot; it is written all the same.
	if status, v := apiJSON(t, "PATCH", servers+"/1", `{"down":true}`); status != 200 {
		t.Fatalf("PATCH b down: %d %v", status, v)
	}
	want = fmt.Sprintf("server %s weight=2;\nserver %s max_fails=3 fail_timeout=30s down;\n", a.addr(), b.addr())
	if got := readState(t, statePath); got != want {
		t.Errorf("state file after PATCH down:\n%s\nwant\n%s", got, want)
	}
	sa := serverOf(t, lb, a.addr())

	// Reload: the file gives the servers back, with their identity.
	if err := lb.reload(t, stateConf, repl...); err != nil {
		t.Fatal(err)
	}
	if now := serverOf(t, lb, a.addr()); now != sa || now.APIID != 0 || now.Weight != 2 {
		t.Errorf("a after reload: same Server %v, id %d, weight %d; want the same Server, id 0, weight 2", now == sa, now.APIID, now.Weight)
	}
	if sb := serverOf(t, lb, b.addr()); sb == nil {
		t.Fatal("b is gone after reload")
	} else if !sb.Down() || sb.MaxFails != 3 {
		t.Errorf("b after reload: down %v, max_fails %d; want down, 3", sb.Down(), sb.MaxFails)
	}
	if got, label, _ := stickyGet(t, client, lb.url, idA); got != "a" || label != "hit" {
		t.Errorf("user of a after reload: %s %s, want a hit", got, label)
	}
	if got, _, _ := stickyGet(t, client, lb.url, idB); got != "a" {
		t.Errorf("user of down b after reload served by %s, want a", got)
	}

	// PATCH weight (a new snapshot) is written; so is DELETE.
	if status, v := apiJSON(t, "PATCH", servers+"/0", `{"weight":5}`); status != 200 {
		t.Fatalf("PATCH a weight: %d %v", status, v)
	}
	if status, v := apiJSON(t, "DELETE", servers+"/1", ""); status != 200 {
		t.Fatalf("DELETE b: %d %v", status, v)
	}
	want = fmt.Sprintf("server %s weight=5;\n", a.addr())
	if got := readState(t, statePath); got != want {
		t.Errorf("state file after PATCH weight and DELETE:\n%s\nwant\n%s", got, want)
	}

	// Restart: a new limpet from the same configuration and file.
	again := startLimpet(t, stateConf, repl...)
	all := again.rt.Upstream("backend").Pool().All()
	if len(all) != 1 || all[0].ID != idA || all[0].Weight != 5 {
		t.Fatalf("servers after a restart: %d, want a alone, weight 5", len(all))
	}
	if got, label, _ := stickyGet(t, client, again.url, idA); got != "a" || label != "hit" {
		t.Errorf("user of a after a restart: %s %s, want a hit", got, label)
	}
	// A new process knows no removed servers: b's cookie names none.
	if got, label, _ := stickyGet(t, client, again.url, idB); got != "a" || label != "new/invalid_cookie" {
		t.Errorf("user of deleted b after a restart: %s %s, want a new/invalid_cookie", got, label)
	}

	// What limpet wrote is a configuration limpet reads back as it was.
	cfg, err := config.Load(writeConf(t, strings.ReplaceAll(stateConf, "{{state}}", statePath)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(config.FormatState(cfg.Upstreams[0].Servers)); got != want {
		t.Errorf("the state file read and written again:\n%s\nwant\n%s", got, want)
	}
}

// Without `state`, a reload takes the servers from the configuration,
// as NGINX Plus does: a server added through the API is gone.
func TestReloadWithoutStateDropsAPIServers(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	conf := `upstream backend { zone backend 64k; server {{a}}; }
server { listen 127.0.0.1:0; access_log off; location / { proxy_pass http://backend; } location /api/ { api write=on; } }`
	repl := []string{"{{a}}", a.addr()}
	lb := startLimpet(t, conf, repl...)
	api := lb.url + "/api/9/http/upstreams/backend/servers"
	if status, v := apiJSON(t, "POST", api, fmt.Sprintf(`{"server":%q}`, b.addr())); status != 201 {
		t.Fatalf("POST b: %d %v", status, v)
	}
	if err := lb.reload(t, conf, repl...); err != nil {
		t.Fatal(err)
	}
	if serverOf(t, lb, b.addr()) != nil || serverOf(t, lb, a.addr()) == nil {
		t.Errorf("after reload: servers %v, want a alone", lb.rt.Upstream("backend").Pool().All())
	}
}

// A state file that cannot be written is logged; the change itself is
// made and answered, as the servers run as changed.
func TestStateWriteFailureIsLogged(t *testing.T) {
	a := newBackend(t, "a")
	statePath := filepath.Join(t.TempDir(), "missing", "backend.state")
	lb := startLimpet(t, stateConf, "{{state}}", statePath)
	if status, v := apiJSON(t, "POST", lb.url+"/api/9/http/upstreams/backend/servers", fmt.Sprintf(`{"server":%q}`, a.addr())); status != 201 {
		t.Fatalf("POST a: %d %v", status, v)
	}
	if got, _, _ := stickyGet(t, newClient(t), lb.url, ""); got != "a" {
		t.Errorf("served by %q after the POST, want a", got)
	}
	if log := lb.errLog.String(); !strings.Contains(log, `msg="state file not written" upstream=backend file=`+statePath) {
		t.Errorf("error log:\n%s\nwant the failed write", log)
	}
}

// writeConf writes conf to a new file and returns its path.
func writeConf(t *testing.T, conf string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A server added through the API after a reload read the state file, and
// before that reload took effect, is not lost: with the same state file
// the running servers are the more recent record.
func TestStateReloadKeepsAChangeMadeWhileItLoads(t *testing.T) {
	a := newBackend(t, "a")
	statePath := filepath.Join(t.TempDir(), "backend.state")
	repl := []string{"{{state}}", statePath}
	lb := startLimpet(t, stateConf, repl...)
	path := filepath.Join(t.TempDir(), "limpet.conf")
	if err := os.WriteFile(path, []byte(strings.NewReplacer(repl...).Replace(stateConf)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{}) // reads the (missing) file: no servers
	if err != nil {
		t.Fatal(err)
	}
	if status, v := apiJSON(t, "POST", lb.url+"/api/9/http/upstreams/backend/servers", fmt.Sprintf(`{"server":%q}`, a.addr())); status != 201 {
		t.Fatalf("POST: %d %v", status, v)
	}
	if err := lb.rt.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if serverOf(t, lb, a.addr()) == nil {
		t.Error("the server added while the reload loaded is gone")
	}
}

// A state file edited by hand is applied by a reload, as a restart would
// apply it; one limpet wrote itself keeps the running servers.
func TestStateEditedByHandIsAppliedOnReload(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	statePath := filepath.Join(t.TempDir(), "backend.state")
	repl := []string{"{{state}}", statePath}
	lb := startLimpet(t, stateConf, repl...)
	if status, v := apiJSON(t, "POST", lb.url+"/api/9/http/upstreams/backend/servers", fmt.Sprintf(`{"server":%q}`, a.addr())); status != 201 {
		t.Fatalf("POST: %d %v", status, v)
	}
	if err := lb.reload(t, stateConf, repl...); err != nil {
		t.Fatal(err)
	}
	if n := len(lb.rt.Upstream("backend").Pool().All()); n != 1 {
		t.Fatalf("%d servers after a reload of limpet's own file, want 1", n)
	}
	edited := fmt.Sprintf("server %s weight=4;\nserver %s;\n", a.addr(), b.addr())
	if err := os.WriteFile(statePath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lb.reload(t, stateConf, repl...); err != nil {
		t.Fatal(err)
	}
	sa, sb := serverOf(t, lb, a.addr()), serverOf(t, lb, b.addr())
	if sa == nil || sb == nil || sa.Weight != 4 {
		t.Fatalf("after a reload of a file edited by hand: a %v (weight %v), b %v; want both, a with weight 4", sa != nil, sa, sb != nil)
	}
}
