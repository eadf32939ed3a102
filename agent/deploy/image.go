package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// splitRef splits an image reference into repository, tag and digest.
func splitRef(ref string) (repo, tag, digest string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:], digest
	}
	return ref, "", digest
}

// pullPolicy applies Kubernetes' default: always for :latest or no tag.
func pullPolicy(p PullPolicy, ref string) PullPolicy {
	if p != PullDefault {
		return p
	}
	_, tag, digest := splitRef(ref)
	if digest == "" && (tag == "" || tag == "latest") {
		return PullAlways
	}
	return PullIfNotPresent
}

// ensureImage makes the image present according to the pull policy.
func (e *Engine) ensureImage(ctx context.Context, req Request, emit func(Event)) (ImageInfo, error) {
	policy := pullPolicy(req.Pull, req.Image)
	img, ok, err := e.rt.Image(ctx, req.Image)
	if err != nil {
		return ImageInfo{}, err
	}
	switch {
	case policy == PullNever && !ok:
		return ImageInfo{}, fmt.Errorf("image %s is not on node %s and the pull policy is never; load it first or allow pulls", req.Image, e.node)
	case ok && policy != PullAlways:
		emit(Event{Phase: PhasePull, Message: fmt.Sprintf("image %s (%s) is present; not pulling", req.Image, shortDigest(digestOf(img, req.Image)))})
		return img, nil
	}
	emit(Event{Phase: PhasePull, Message: "pulling " + req.Image})
	var last time.Time
	err = e.rt.Pull(ctx, req.Image, req.Auth, func(cur, total int64, status string) {
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		emit(Event{Phase: PhasePull, Message: status, Current: cur, Total: total})
	})
	if err != nil {
		if isUnavailable(err) {
			return ImageInfo{}, err
		}
		return ImageInfo{}, fmt.Errorf("cannot pull %s: %v", req.Image, err)
	}
	pulled, ok, err := e.rt.Image(ctx, req.Image)
	if err != nil {
		return ImageInfo{}, err
	}
	if !ok {
		return ImageInfo{}, fmt.Errorf("cannot pull %s: the engine reported success but has no such image", req.Image)
	}
	msg := fmt.Sprintf("pulled %s (%s)", req.Image, shortDigest(digestOf(pulled, req.Image)))
	if img.ID == pulled.ID {
		msg = fmt.Sprintf("%s is up to date (%s)", req.Image, shortDigest(digestOf(pulled, req.Image)))
	}
	emit(Event{Phase: PhasePull, Message: msg})
	return pulled, nil
}

// digestOf is the registry digest of ref's repository when the engine knows
// it (the image came from a registry), else the local image ID.
func digestOf(img ImageInfo, ref string) string {
	repo, _, _ := splitRef(ref)
	for _, rd := range img.RepoDigests {
		if r, d, ok := strings.Cut(rd, "@"); ok && (r == repo || strings.HasSuffix(r, "/"+repo)) {
			return d
		}
	}
	return img.ID
}

// versionOf labels a deploy that names no version: the tag, else the digest.
func versionOf(ref, digest string) string {
	if _, tag, _ := splitRef(ref); tag != "" && tag != "latest" {
		return tag
	}
	return shortDigest(digest)
}
