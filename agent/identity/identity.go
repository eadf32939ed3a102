// Package identity carries the authenticated caller of an RPC and its role
// through the RPC's context, so that handlers can record who deployed what
// and the server can authorize calls without knowing how the caller proved
// who it is.
//
// It must never hold a credential: only names such as "cert:nagios" or
// "token".
package identity

import (
	"context"
	"fmt"
)

// Role is what a caller may do. Roles are ordered: a role allows everything
// the roles below it allow.
type Role int

const (
	// NoRole allows nothing; it is the zero value, so a caller whose role
	// was never set is refused.
	NoRole Role = iota
	// Monitoring allows the read-only RPCs: what the Nagios plugins call.
	Monitoring
	// Deploy allows every RPC: deploys, rollbacks, replication changes,
	// dumps. It is root on the node.
	Deploy
)

// Roles lists the roles a caller can hold, lowest first.
var Roles = []Role{Monitoring, Deploy}

// String returns the role's name as written in certificates, flags and logs.
func (r Role) String() string {
	switch r {
	case Monitoring:
		return "monitoring"
	case Deploy:
		return "deploy"
	}
	return "none"
}

// Allows reports whether a caller holding r may call an RPC that needs need.
func (r Role) Allows(need Role) bool { return need != NoRole && r >= need }

// ParseRole returns the role named s ("monitoring" or "deploy").
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.String() == s {
			return r, nil
		}
	}
	return NoRole, fmt.Errorf("unknown role %q: use monitoring or deploy", s)
}

// Caller is who made an RPC and what it may do.
type Caller struct {
	// ID names the proofs the caller gave, joined by "+": "cert:<CN>",
	// "token", "monitoring-token" or "loopback".
	ID string
	// Role is what the proofs together allow.
	Role Role
}

type ctxKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// CallerFrom returns the caller stored by WithCaller (or With) and whether
// there is one.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(ctxKey{}).(Caller)
	return c, ok
}

// With returns ctx carrying a caller named id, with no role.
func With(ctx context.Context, id string) context.Context {
	return WithCaller(ctx, Caller{ID: id})
}

// From returns the ID of the caller in ctx, or "" when there is none.
func From(ctx context.Context) string {
	c, _ := CallerFrom(ctx)
	return c.ID
}
