package deploy

import "testing"

func TestSplitRefAndPullPolicy(t *testing.T) {
	cases := []struct {
		ref               string
		repo, tag, digest string
		policy            PullPolicy
		versionFromDigest string
		version           string
	}{
		{"todo", "todo", "", "", PullAlways, "sha256:abc", "sha256:abc"},
		{"todo:latest", "todo", "latest", "", PullAlways, "sha256:abc", "sha256:abc"},
		{"todo:v2", "todo", "v2", "", PullIfNotPresent, "sha256:abc", "v2"},
		{"127.0.0.1:5000/todo:v2", "127.0.0.1:5000/todo", "v2", "", PullIfNotPresent, "", "v2"},
		{"127.0.0.1:5000/todo", "127.0.0.1:5000/todo", "", "", PullAlways, "sha256:0123456789abcdef", "sha256:0123456789ab"},
		{"ghcr.io/o/todo@sha256:ff", "ghcr.io/o/todo", "", "sha256:ff", PullIfNotPresent, "sha256:ff", "sha256:ff"},
	}
	for _, c := range cases {
		repo, tag, digest := splitRef(c.ref)
		if repo != c.repo || tag != c.tag || digest != c.digest {
			t.Errorf("splitRef(%q) = %q %q %q", c.ref, repo, tag, digest)
		}
		if p := pullPolicy(PullDefault, c.ref); p != c.policy {
			t.Errorf("pullPolicy(%q) = %v, want %v", c.ref, p, c.policy)
		}
		if pullPolicy(PullNever, c.ref) != PullNever {
			t.Errorf("an explicit policy was overridden for %q", c.ref)
		}
		if v := versionOf(c.ref, c.versionFromDigest); v != c.version {
			t.Errorf("versionOf(%q) = %q, want %q", c.ref, v, c.version)
		}
	}
}

func TestDigestOfPrefersTheRepositoryDigest(t *testing.T) {
	img := ImageInfo{ID: "sha256:local", RepoDigests: []string{"other/x@sha256:no", "127.0.0.1:5000/todo@sha256:yes"}}
	if d := digestOf(img, "127.0.0.1:5000/todo:v2"); d != "sha256:yes" {
		t.Fatalf("digestOf = %q", d)
	}
	if d := digestOf(ImageInfo{ID: "sha256:local"}, "todo:v2"); d != "sha256:local" {
		t.Fatalf("digestOf without repo digests = %q", d)
	}
}

func TestResolveHealth(t *testing.T) {
	spec := Spec{Ports: []Port{{HostPort: 8000, ContainerPort: 8080}}}
	h := resolveHealth(Health{Path: "/healthz"}, spec, ImageInfo{})
	if h.Type != HealthHTTP || h.Port != 8080 || h.Timeout != DefaultHealthTimeout || h.Interval != DefaultHealthInterval {
		t.Fatalf("http default: %+v", h)
	}
	if h := resolveHealth(Health{}, spec, ImageInfo{HasHealthcheck: true}); h.Type != HealthDocker {
		t.Fatalf("image HEALTHCHECK not used: %+v", h)
	}
	if h := resolveHealth(Health{}, spec, ImageInfo{}); h.Type != HealthNone {
		t.Fatalf("no gate: %+v", h)
	}
}

func TestPickRollback(t *testing.T) {
	c := func(id, v string, running bool, state string) Container {
		return Container{ID: id, Running: running, State: state, Labels: map[string]string{LabelVersion: v}}
	}
	// newest first, as Engine.containers returns them
	cs := []Container{c("4", "v4", true, "running"), c("3", "v4", false, "exited"), c("2", "v2", false, "exited"), c("x", "v9", false, "created"), c("1", "v1", false, "exited")}
	cur := &cs[0]
	if got, _ := pickRollback(cs, cur, ""); got == nil || got.ID != "2" {
		t.Fatalf("default rollback picked %v, want v2 (the newest different version)", got)
	}
	if got, _ := pickRollback(cs, cur, "v1"); got == nil || got.ID != "1" {
		t.Fatalf("named rollback picked %v", got)
	}
	got, retained := pickRollback(cs, cur, "v9")
	if got != nil || len(retained) != 3 {
		t.Fatalf("a never-started container must not be a rollback target: %v %v", got, retained)
	}
}
