package agentcheck

import (
	"context"
	"errors"
	"testing"
)

type fakeApps struct {
	ok  bool
	why string
	err error
}

func (f *fakeApps) AppReady(context.Context, string) (bool, string, error) { return f.ok, f.why, f.err }

type fakeDB struct {
	ok  bool
	why string
	err error
}

func (f *fakeDB) CaughtUp(context.Context) (bool, string, error) { return f.ok, f.why, f.err }

type fakeHold struct {
	held bool
	why  string
}

func (f *fakeHold) Held() (bool, string) { return f.held, f.why }

func TestDecide(t *testing.T) {
	cases := []struct {
		name string
		apps *fakeApps
		db   *fakeDB
		hold *fakeHold
		want string
	}{
		{"healthy, no database", &fakeApps{ok: true}, nil, nil, "up 100% #todo healthy\n"},
		{"healthy and caught up", &fakeApps{ok: true}, &fakeDB{ok: true}, nil, "up 100% #todo healthy, replication caught up\n"},
		{"replication behind", &fakeApps{ok: true}, &fakeDB{why: "connection 'node2': 3 transactions received, not yet applied"}, nil,
			"up 0% #replication: connection 'node2': 3 transactions received, not yet applied\n"},
		{"database unreachable", &fakeApps{ok: true}, &fakeDB{err: errors.New("MariaDB unavailable")}, nil, "up 0% #replication: cannot tell: MariaDB unavailable\n"},
		{"app unhealthy", &fakeApps{why: "container unhealthy"}, &fakeDB{ok: true}, nil, "down #todo: container unhealthy\n"},
		{"engine hung", &fakeApps{err: errors.New("deadline exceeded")}, nil, nil, "down #todo: cannot tell: deadline exceeded\n"},
		{"held by an operator", &fakeApps{ok: true}, &fakeDB{ok: true}, &fakeHold{held: true, why: "patching\nby ops"}, "up 0% #held: patching by ops\n"},
	}
	for _, c := range cases {
		ch := &Checker{App: "todo", Apps: c.apps}
		if c.db != nil {
			ch.DB = c.db
		}
		if c.hold != nil {
			ch.Hold = c.hold
		}
		if got := ch.Decide(context.Background()).Line(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
