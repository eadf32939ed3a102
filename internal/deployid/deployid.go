// Package deployid makes deploy ids. Every node records the id of each
// deploy it ran, so one id finds the same rollout in every node's history;
// the agent, labcontroller and the Ansible modules all make them here, in
// one format that sorts by time. It imports nothing but the standard
// library, so the agent's domain code may use it.
package deployid

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Layout is the time part of an id: UTC, to the second, sortable as text.
const Layout = "20060102T150405Z"

// New returns an id for a deploy started at now: prefix (when not empty)
// and "-", the time in Layout, "-" and 8 random hex digits, e.g.
// "ansible-20261202T184437Z-3fa2c01b". The random part keeps two ids made
// in the same second apart.
func New(prefix string, now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := now.UTC().Format(Layout) + "-" + hex.EncodeToString(b)
	if prefix != "" {
		id = prefix + "-" + id
	}
	return id
}
