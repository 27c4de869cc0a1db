package live

import (
	"errors"
	"slices"
	"testing"

	"github.com/limpet-lb/limpet/internal/upstream"
)

// addrs returns the servers' addresses, with "!" after a down one.
func addrs(servers []*upstream.Server) []string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		a := s.Addr
		if s.Down() {
			a += "!"
		}
		out = append(out, a)
	}
	return out
}

// TestOnChange: the OnChange function is told of every change Update
// makes, with the servers as the change left them, and of nothing else.
func TestOnChange(t *testing.T) {
	errRefused := errors.New("refused")
	tests := []struct {
		name   string
		update func(current []*upstream.Server) ([]*upstream.Server, error)
		want   []string // the servers OnChange was given; nil: not called
		err    error
	}{
		{
			name: "add",
			update: func(cur []*upstream.Server) ([]*upstream.Server, error) {
				return append(cur, server("10.0.0.3:80")), nil
			},
			want: []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"},
		},
		{
			name:   "remove",
			update: func(cur []*upstream.Server) ([]*upstream.Server, error) { return cur[1:], nil },
			want:   []string{"10.0.0.2:80"},
		},
		{
			name: "down only, snapshot kept",
			update: func(cur []*upstream.Server) ([]*upstream.Server, error) {
				cur[0].SetDown(true)
				return nil, ErrKept
			},
			want: []string{"10.0.0.1:80!", "10.0.0.2:80"},
		},
		{
			name:   "refused",
			update: func([]*upstream.Server) ([]*upstream.Server, error) { return nil, errRefused },
			err:    errRefused,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := New("u", Policy{}, []*upstream.Server{server("10.0.0.1:80"), server("10.0.0.2:80")})
			before := u.Load()
			var got []string
			calls := 0
			u.OnChange(func(servers []*upstream.Server) {
				calls++
				got = addrs(servers)
			})
			if err := u.Update(tt.update); !errors.Is(err, tt.err) {
				t.Fatalf("Update: %v, want %v", err, tt.err)
			}
			if tt.want == nil {
				if calls != 0 {
					t.Errorf("OnChange called %d times after a refused Update", calls)
				}
				return
			}
			if calls != 1 || !slices.Equal(got, tt.want) {
				t.Errorf("OnChange called %d times, last with %q; want once with %q", calls, got, tt.want)
			}
			if kept := u.Load() == before; kept != (tt.name == "down only, snapshot kept") {
				t.Errorf("snapshot kept: %v", kept)
			}
		})
	}
}

// TestOnChangeNotOnReconfigure: a reload's Reconfigure is not reported,
// and nil removes the function.
func TestOnChangeNotOnReconfigure(t *testing.T) {
	u := New("u", Policy{}, []*upstream.Server{server("10.0.0.1:80")})
	calls := 0
	u.OnChange(func([]*upstream.Server) { calls++ })
	if err := u.Reconfigure(Policy{}, func([]*upstream.Server) ([]*upstream.Server, error) {
		return []*upstream.Server{server("10.0.0.2:80")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("OnChange called %d times by Reconfigure", calls)
	}
	u.OnChange(nil)
	if err := u.Update(func(cur []*upstream.Server) ([]*upstream.Server, error) { return cur, nil }); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("OnChange called %d times after it was removed", calls)
	}
}
