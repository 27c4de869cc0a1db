package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestLimitInheritance checks nginx's merging of the limit directives: a
// level with any limit_req inherits none of the outer ones (limit_conn
// the same, on its own), and the settings are inherited one by one.
func TestLimitInheritance(t *testing.T) {
	cfg, path, err := load(t, `limit_req zone=one burst=5;
limit_conn addr 10;
limit_req_status 429;
server {
    location /inherit/ { }
    location /own/ {
        limit_req zone=two nodelay;
        limit_req zone=one burst=2 delay=1;
        limit_conn_status 444;
        limit_req_log_level NOTICE;
        limit_conn_dry_run on;
        location /own/nested/ {
            limit_conn addr 1;
        }
    }
}
limit_req_zone $binary_remote_addr zone=one:10m rate=10r/s;
limit_req_zone "$server_name" zone=two:32k rate=30r/m;
limit_conn_zone $binary_remote_addr zone=addr:1m;
`)
	if err != nil {
		t.Fatal(err)
	}
	at := func(line int) Pos { return Pos{File: path, Line: line} }
	one := &LimitReqZone{Pos: at(17), Name: "one", Key: "$binary_remote_addr", Size: 10 << 20, Rate: 10000}
	two := &LimitReqZone{Pos: at(18), Name: "two", Key: "$server_name", Size: 32 << 10, Rate: 500}
	addr := &LimitConnZone{Pos: at(19), Name: "addr", Key: "$binary_remote_addr", Size: 1 << 20}
	if !reflect.DeepEqual(cfg.LimitReqZones, []*LimitReqZone{one, two}) {
		t.Errorf("LimitReqZones = %+v", cfg.LimitReqZones)
	}
	if !reflect.DeepEqual(cfg.LimitConnZones, []*LimitConnZone{addr}) {
		t.Errorf("LimitConnZones = %+v", cfg.LimitConnZones)
	}
	httpLevel := Limits{
		Req:          []LimitReq{{Pos: at(1), Zone: one, Burst: 5}},
		ReqStatus:    429,
		ReqLogLevel:  "error",
		Conn:         []LimitConn{{Pos: at(2), Zone: addr, Conn: 10}},
		ConnStatus:   503,
		ConnLogLevel: "error",
	}
	own := Limits{
		Req:          []LimitReq{{Pos: at(7), Zone: two, NoDelay: true}, {Pos: at(8), Zone: one, Burst: 2, Delay: 1}},
		ReqStatus:    429,
		ReqLogLevel:  "notice",
		Conn:         httpLevel.Conn,
		ConnStatus:   444,
		ConnLogLevel: "error",
		ConnDryRun:   true,
	}
	nested := own
	nested.Conn = []LimitConn{{Pos: at(13), Zone: addr, Conn: 1}}
	tests := []struct {
		name string
		got  Limits
		want Limits
	}{
		{"server", cfg.Servers[0].Limits, httpLevel},
		{"inheriting location", locationAt(t, cfg, 0, "/inherit/").Limits, httpLevel},
		{"own limit_req", locationAt(t, cfg, 0, "/own/").Limits, own},
		{"nested with own limit_conn", locationAt(t, cfg, 0, "/own/", "/own/nested/").Limits, nested},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
	}
}

// defaultLimits are the limits where no limit directive is written: no
// limits, status 503, level error, no dry run.
func defaultLimits() Limits {
	return Limits{ReqStatus: 503, ReqLogLevel: "error", ConnStatus: 503, ConnLogLevel: "error"}
}

func TestLimitDefaults(t *testing.T) {
	cfg := mustLoad(t, "server { location / { } }")
	want := defaultLimits()
	if got := locationAt(t, cfg, 0, "/").Limits; !reflect.DeepEqual(got, want) {
		t.Errorf("Limits = %+v, want %+v", got, want)
	}
}

func TestLimitRates(t *testing.T) {
	tests := []struct {
		rate string
		want int64
	}{
		{"1r/s", 1000}, {"10r/s", 10000}, {"1r/m", 16}, {"30r/m", 500}, {"120r/m", 2000}, {"5", 5000},
	}
	for _, tt := range tests {
		cfg := mustLoad(t, "limit_req_zone $binary_remote_addr zone=z:1m rate="+tt.rate+";")
		if got := cfg.LimitReqZones[0].Rate; got != tt.want {
			t.Errorf("rate=%s: %d, want %d", tt.rate, got, tt.want)
		}
	}
}

// TestLimitErrors asserts every error of the limit directives in full,
// in nginx's words. FILE is the path of the configuration file.
func TestLimitErrors(t *testing.T) {
	const zones = "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;\nlimit_conn_zone $binary_remote_addr zone=addr:1m;\n"
	tests := []struct {
		name, src, want string
	}{
		{"req zone without zone", "limit_req_zone $binary_remote_addr rate=1r/s zone2=x;", `invalid parameter "zone2=x" in FILE:1`},
		{"req zone missing zone", "limit_req_zone $binary_remote_addr rate=1r/s rate=2r/s;", `"limit_req_zone" must have "zone" parameter in FILE:1`},
		{"req zone without size", "limit_req_zone $binary_remote_addr zone=one rate=1r/s;", `invalid zone size "zone=one" in FILE:1`},
		{"req zone bad size", "limit_req_zone $binary_remote_addr zone=one:1x rate=1r/s;", `invalid zone size "zone=one:1x" in FILE:1`},
		{"req zone too small", "limit_req_zone $binary_remote_addr zone=one:16k rate=1r/s;", `zone "zone=one:16k" is too small in FILE:1`},
		{"bad rate", "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/h;", `invalid rate "rate=1r/h" in FILE:1`},
		{"zero rate", "limit_req_zone $binary_remote_addr zone=one:1m rate=0r/s;", `invalid rate "rate=0r/s" in FILE:1`},
		{"sync", "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s sync;", `parameter "sync" is not supported: limpet does not synchronise zones between instances in FILE:1`},
		{"four arguments without sync", "limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s rate=2r/s;", `invalid number of arguments in "limit_req_zone" directive in FILE:1`},
		{"req zone arguments", "limit_req_zone $binary_remote_addr zone=one:1m;", `invalid number of arguments in "limit_req_zone" directive in FILE:1`},
		{"req zone in server", "server {\n limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;\n}", `"limit_req_zone" directive is not allowed here in FILE:2`},
		{"req zone twice", zones + "limit_req_zone $uri zone=one:1m rate=1r/s;", `limit_req_zone "one" is already bound to key "$binary_remote_addr" in FILE:3`},
		{"req zone twice, other size", zones + "limit_req_zone $uri zone=one:2m rate=1r/s;", `the size 2097152 of shared memory zone "one" conflicts with already declared size 1048576 in FILE:3`},
		{"conn zone named as a req zone", zones + "limit_conn_zone $uri zone=one:1m;", `the shared memory zone "one" is already declared for a different use in FILE:3`},
		{"conn zone bad parameter", "limit_conn_zone $uri size=1m;", `invalid parameter "size=1m" in FILE:1`},
		{"conn zone too small", "limit_conn_zone $uri zone=a:8k;", `zone "zone=a:8k" is too small in FILE:1`},
		{"conn zone twice", zones + "limit_conn_zone $uri zone=addr:1m;", `limit_conn_zone "addr" is already bound to key "$binary_remote_addr" in FILE:3`},

		{"limit_req without zone", zones + "limit_req burst=5;", `"limit_req" must have "zone" parameter in FILE:3`},
		{"limit_req unknown zone", zones + "server { location / {\n limit_req zone=two;\n} }", `zero size shared memory zone "two" in FILE:4`},
		{"limit_req on a conn zone", zones + "limit_req zone=addr;", `the shared memory zone "addr" is already declared for a different use in FILE:3`},
		{"bad burst", zones + "limit_req zone=one burst=0;", `invalid burst value "burst=0" in FILE:3`},
		{"bad delay", zones + "limit_req zone=one delay=x;", `invalid delay value "delay=x" in FILE:3`},
		{"bad limit_req parameter", zones + "limit_req zone=one no_delay;", `invalid parameter "no_delay" in FILE:3`},
		{"duplicate limit_req", zones + "server {\n limit_req zone=one;\n limit_req zone=one burst=2;\n}", `"limit_req" directive is duplicate in FILE:5`},
		{"limit_req in upstream", zones + "upstream u { server 10.0.0.1;\n limit_req zone=one; }", `"limit_req" directive is not allowed here in FILE:4`},
		{"limit_req in limit_except", zones + "server { location / { limit_except GET {\n limit_req zone=one;\n} } }", `"limit_req" directive is not allowed here in FILE:4`},
		{"status too low", "limit_req_status 399;", `value must be between 400 and 599 in FILE:1`},
		{"status too high", "limit_conn_status 600;", `value must be between 400 and 599 in FILE:1`},
		{"status not a number", "limit_req_status busy;", `"limit_req_status" directive invalid number in FILE:1`},
		{"duplicate status", "server {\n limit_conn_status 429;\n limit_conn_status 503;\n}", `"limit_conn_status" directive is duplicate in FILE:3`},
		{"bad log level", "limit_req_log_level debug;", `invalid value "debug" in FILE:1`},
		{"duplicate log level", "limit_conn_log_level info;\nlimit_conn_log_level warn;", `"limit_conn_log_level" directive is duplicate in FILE:2`},
		{"bad dry run", "limit_req_dry_run yes;", `invalid value "yes" in "limit_req_dry_run" directive, it must be "on" or "off" in FILE:1`},

		{"limit_conn unknown zone", zones + "limit_conn other 1;", `zero size shared memory zone "other" in FILE:3`},
		{"limit_conn on a req zone", zones + "limit_conn one 1;", `the shared memory zone "one" is already declared for a different use in FILE:3`},
		{"limit_conn zero", zones + "limit_conn addr 0;", `invalid number of connections "0" in FILE:3`},
		{"limit_conn too many", zones + "limit_conn addr 65536;", `connection limit must be less 65536 in FILE:3`},
		{"limit_conn arguments", zones + "limit_conn addr;", `invalid number of arguments in "limit_conn" directive in FILE:3`},
		{"duplicate limit_conn", zones + "limit_conn addr 1;\nlimit_conn addr 2;", `"limit_conn" directive is duplicate in FILE:4`},
	}
	var many strings.Builder
	for i := range 9 {
		fmt.Fprintf(&many, "limit_conn_zone $uri zone=z%d:32k;\nlimit_conn z%d 1;\n", i, i)
	}
	tests = append(tests, struct{ name, src, want string }{"nine limit_conn", many.String(), `too many "limit_conn" directives at one level, at most 8 in FILE:18`})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := load(t, tt.src)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || err.Error() != want {
				t.Fatalf("source:\n%s\nerror %v\nwant  %s", tt.src, err, want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.File != path {
				t.Errorf("error %v is not an *Error in %s", err, path)
			}
		})
	}
}
