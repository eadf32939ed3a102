// Package identity carries the authenticated caller of an RPC through its
// context, so that handlers can record who deployed what without knowing how
// the caller proved it.
package identity

import "context"

type ctxKey struct{}

// With returns ctx carrying the caller's identity.
func With(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, ctxKey{}, caller)
}

// From returns the caller stored by With, or "" when there is none.
func From(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}
