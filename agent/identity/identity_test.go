package identity

import (
	"context"
	"testing"
)

func TestRoleAllows(t *testing.T) {
	cases := []struct {
		have, need Role
		ok         bool
	}{
		{Deploy, Deploy, true},
		{Deploy, Monitoring, true},
		{Monitoring, Monitoring, true},
		{Monitoring, Deploy, false},
		{NoRole, Monitoring, false},
		{Deploy, NoRole, false}, // a method that needs "no role" is a missing table entry: refused
	}
	for _, c := range cases {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%v.Allows(%v) = %v, want %v", c.have, c.need, got, c.ok)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles {
		if got, err := ParseRole(r.String()); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "none", "admin", "Deploy"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

func TestCallerInContext(t *testing.T) {
	ctx := WithCaller(context.Background(), Caller{ID: "cert:nagios", Role: Monitoring})
	if c, ok := CallerFrom(ctx); !ok || c.ID != "cert:nagios" || c.Role != Monitoring || From(ctx) != "cert:nagios" {
		t.Errorf("CallerFrom = %+v, %v", c, ok)
	}
	if c, _ := CallerFrom(With(context.Background(), "token")); c.ID != "token" || c.Role != NoRole {
		t.Errorf("With gives %+v, want a caller without a role", c)
	}
	if _, ok := CallerFrom(context.Background()); ok || From(context.Background()) != "" {
		t.Error("an empty context has a caller")
	}
}
