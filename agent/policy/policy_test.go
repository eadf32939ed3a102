package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostTree makes a small host tree under a temp dir:
//
//	srv/data/           a directory deploys may mount (srv is the prefix)
//	srv/link-etc  -> /etc
//	srv/link-state -> ../state        the agent's state dir
//	srv/link-out  -> ../other         outside every prefix
//	srv/loop      -> loop
//	state/deploy/                     protected
//	run/docker.sock                   the engine socket the agent uses
//	other/
//	linked-prefix -> srv
func hostTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"srv/data", "state/deploy", "run", "other", "srvx"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "run", "docker.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"srv/link-etc": "/etc", "srv/link-state": "../state", "srv/link-out": "../other", "srv/loop": "loop",
		"linked-prefix": "srv",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCheck_BindMounts(t *testing.T) {
	root := hostTree(t)
	j := func(p string) string { return filepath.Join(root, p) }
	none := Policy{}
	node := Policy{
		MountPrefixes: []string{j("srv"), j("run")},
		Protected:     []string{j("state")},
		EngineSockets: []string{j("run/docker.sock")},
	}
	cases := []struct {
		name   string
		p      Policy
		source string
		want   error    // nil: allowed
		msg    []string // parts the message must hold
	}{
		// Default deny: no prefix, and the system paths whatever the prefixes.
		{"etc", none, "/etc", ErrDenied, []string{"bind mount /etc: /etc is never mounted (host policy); mounts are allowed under --allow-mount-prefix (now: none)"}},
		{"inside etc", none, "/etc/ssl", ErrDenied, []string{"inside /etc, which is never mounted"}},
		{"root", node, "/", ErrDenied, []string{"the host's root / is never mounted", "(now: " + j("srv") + ", " + j("run") + ")"}},
		{"proc", none, "/proc/1/root", ErrDenied, []string{"inside /proc"}},
		{"sys", none, "/sys", ErrDenied, []string{"/sys is never mounted"}},
		{"dev", none, "/dev/sda", ErrDenied, []string{"inside /dev"}},
		{"boot", none, "/boot", ErrDenied, []string{"/boot is never mounted"}},
		{"docker socket", none, "/var/run/docker.sock", ErrDenied, []string{"the Docker Engine socket /var/run/docker.sock is never mounted"}},
		{"docker socket under /run", none, "/run/docker.sock", ErrDenied, []string{"bind mount /run/docker.sock: the Docker Engine socket /run/docker.sock is never mounted"}},
		{"parent of the socket", none, "/var", ErrDenied, []string{"it contains the Docker Engine socket /var/run/docker.sock"}},
		{"parent of the socket, not a prefix", none, "/run", ErrDenied, []string{"contains the Docker Engine socket"}},
		{"containerd's socket", none, "/run/containerd/containerd.sock", ErrDenied, []string{"the containerd socket /run/containerd/containerd.sock is never mounted"}},
		{"dotdot to etc", none, "/srv/../etc", ErrDenied, []string{"bind mount /srv/../etc: /etc is never mounted"}},
		{"no prefix configured", none, j("srv/data"), ErrDenied, []string{"not under a directory this node allows mounts from", "(now: none)"}},
		{"relative", node, "srv/data", ErrInvalid, []string{"absolute host path"}},

		// Under a prefix.
		{"under the prefix", node, j("srv/data"), nil, nil},
		{"the prefix itself", node, j("srv"), nil, nil},
		{"not there yet", node, j("srv/data/new/deeper"), nil, nil},
		{"through a prefix that is a symlink", Policy{MountPrefixes: []string{j("linked-prefix")}}, j("linked-prefix/data"), nil, nil},
		{"sibling sharing the prefix's spelling", node, j("srvx"), ErrDenied, []string{"not under a directory"}},
		{"outside every prefix", node, j("other"), ErrDenied, []string{"not under a directory"}},
		{"dotdot out of the prefix", node, j("srv") + "/../other", ErrDenied, []string{"bind mount " + j("srv") + "/../other: it is not under a directory"}},
		{"symlink out of the prefix", node, j("srv/link-out"), ErrDenied, []string{"resolves to " + j("other"), "not under a directory"}},
		{"symlink to etc", node, j("srv/link-etc"), ErrDenied, []string{"(resolves to /etc): /etc is never mounted"}},
		{"through a symlink into etc", node, j("srv/link-etc/ssl"), ErrDenied, []string{"inside /etc"}},
		// The engine cleans the path (srv/data); the kernel would follow the
		// link first (/etc/.. = /): both readings are checked.
		{"dotdot after a symlink", node, j("srv/link-etc") + "/..", ErrDenied, []string{"link-etc/.. (resolves to /): the host's root / is never mounted"}},
		{"symlink loop", node, j("srv/loop"), ErrDenied, []string{"cannot resolve"}},
		{"unreadable, but inside a forbidden path", none, "/proc/1/root/etc", ErrDenied, []string{"inside /proc"}},

		// The agent's own directories and socket, even under a prefix.
		{"protected", node, j("state"), ErrDenied, []string{"the agent's own directory " + j("state") + " is never mounted"}},
		{"inside protected", node, j("state/deploy"), ErrDenied, []string{"inside the agent's own directory"}},
		{"symlink to protected", node, j("srv/link-state"), ErrDenied, []string{"resolves to " + j("state"), "the agent's own directory"}},
		{"parent of protected", Policy{MountPrefixes: []string{root}, Protected: []string{j("state")}}, root, ErrDenied, []string{"it contains the agent's own directory"}},
		{"the agent's engine socket", node, j("run/docker.sock"), ErrDenied, []string{"the Docker Engine socket " + j("run/docker.sock") + " is never mounted"}},
		{"parent of the agent's socket", node, j("run"), ErrDenied, []string{"it contains the Docker Engine socket " + j("run/docker.sock")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.p, Request{Mounts: []Mount{{Source: c.source}}})
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check(%s) = %v; want allowed", c.source, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Check(%s) = %v; want %v", c.source, err, c.want)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestCheck_BriefMessage(t *testing.T) {
	err := Check(Policy{MountPrefixes: []string{"/srv/labfleet"}}, Request{Mounts: []Mount{{Source: "/etc"}}})
	want := "bind mount /etc: /etc is never mounted (host policy); mounts are allowed under --allow-mount-prefix (now: /srv/labfleet)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrDenied) {
		t.Errorf("Check = %v\nwant %s, matching ErrDenied", err, want)
	}
}

func TestCheck_VolumesAreNotHostPaths(t *testing.T) {
	// A named volume lives in the engine's own directory; its name is not
	// a host path, even when it looks like one of the forbidden ones.
	if err := Check(Policy{}, Request{Mounts: []Mount{{Source: "etc", Volume: true}, {Source: "data", Volume: true}}}); err != nil {
		t.Errorf("named volumes: %v", err)
	}
	// One bad mount among good ones is enough.
	err := Check(Policy{MountPrefixes: []string{"/"}}, Request{Mounts: []Mount{{Source: "data", Volume: true}, {Source: "/etc"}}})
	if !errors.Is(err, ErrDenied) {
		t.Errorf("a volume then /etc: %v", err)
	}
}

func TestCheck_Network(t *testing.T) {
	ours := []Container{
		{ID: strings.Repeat("ab", 32), Name: "node1-web-0a1b2c3d", NetworkMode: "bridge"},
		{ID: strings.Repeat("cd", 32), Name: "/node1-hostapp-11223344", NetworkMode: "host"},
	}
	cases := []struct {
		name string
		p    Policy
		mode string
		want error
		msg  []string
	}{
		{"default", Policy{}, "", nil, nil},
		{"bridge", Policy{}, "bridge", nil, nil},
		{"none", Policy{}, "none", nil, nil},
		{"a user network", Policy{}, "backend", nil, nil},
		{"host refused", Policy{}, "host", ErrDenied, []string{"network_mode host: host networking is refused (host policy); start labagent with --allow-host-network to allow it"}},
		{"host allowed", Policy{HostNetwork: true}, "host", nil, nil},
		{"our container by name", Policy{}, "container:node1-web-0a1b2c3d", nil, nil},
		{"our container by /name", Policy{}, "container:/node1-web-0a1b2c3d", nil, nil},
		{"our container by full ID", Policy{}, "container:" + strings.Repeat("ab", 32), nil, nil},
		{"an ID prefix is ambiguous", Policy{}, "container:" + strings.Repeat("ab", 6), ErrDenied, []string{"full ID"}},
		{"a container not ours", Policy{}, "container:postgres", ErrDenied, []string{"network_mode container:postgres: postgres is not a container of an app on node node1", "(host policy)"}},
		{"no name", Policy{}, "container:", ErrInvalid, []string{"name the container"}},
		{"ours, on the host network", Policy{}, "container:node1-hostapp-11223344", ErrDenied, []string{"node1-hostapp-11223344 uses the host's network", "--allow-host-network"}},
		{"ours, on the host network, allowed", Policy{HostNetwork: true}, "container:node1-hostapp-11223344", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Check(c.p, Request{NetworkMode: c.mode, Node: "node1", Containers: ours})
			if c.want == nil {
				if err != nil {
					t.Fatalf("Check(%q) = %v; want allowed", c.mode, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Check(%q) = %v; want %v", c.mode, err, c.want)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("message %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	root := hostTree(t)
	protected := []string{filepath.Join(root, "state")}
	cases := []struct {
		prefix string
		want   string // "" means valid
	}{
		{"/srv/labfleet", ""},
		{"/var", ""}, // holds the socket, which Check still refuses
		{filepath.Join(root, "srv"), ""},
		{"srv/labfleet", "must be an absolute path"},
		{"/", "would allow mounting any host directory"},
		{"/etc/app", "/etc is never mounted, so nothing under it would be allowed"},
		{"/proc", "/proc is never mounted"},
		{filepath.Join(root, "state", "deploy"), "the agent's own directory"},
		{filepath.Join(root, "srv", "link-etc"), "/etc is never mounted"},
	}
	for _, c := range cases {
		err := Policy{MountPrefixes: []string{c.prefix}, Protected: protected}.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v; want valid", c.prefix, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--allow-mount-prefix")):
			t.Errorf("%s: %v; want an error naming the flag and %q", c.prefix, err, c.want)
		}
	}
}
