package deploy

import (
	"context"
	"fmt"
	"time"
)

// plan answers a dry run: would this deploy change the node? It takes no
// lock, pulls nothing and records nothing.
func (e *Engine) plan(ctx context.Context, req Request) (Result, error) {
	cs, err := e.containers(ctx, req.App)
	if err != nil {
		return Result{}, err
	}
	now := time.Now()
	res := Result{DeployID: req.DeployID, App: req.App, Kind: KindDeploy, Image: req.Image, Caller: req.Caller, StartedAt: now, FinishedAt: now}
	cur := e.current(ctx, req.App, cs)
	if cur != nil {
		res.PreviousVersion = cur.Labels[LabelVersion]
	}
	res.Version = req.Version
	img, ok, err := e.rt.Image(ctx, req.Image)
	if err != nil {
		return Result{}, err
	}
	if res.Version == "" {
		res.Version = versionOf(req.Image, digestOf(img, req.Image))
	}
	res.Outcome = WouldChange
	switch {
	case !ok && pullPolicy(req.Pull, req.Image) == PullNever:
		res.Outcome, res.Message = Failed, fmt.Sprintf("image %s is not on node %s and the pull policy is never", req.Image, e.node)
	case !ok:
		res.Message = fmt.Sprintf("would pull %s (not on the node yet) and deploy it as version %s", req.Image, res.Version)
	case cur == nil:
		res.Message = fmt.Sprintf("would deploy %s as version %s (the app is not on this node yet)", req.Image, res.Version)
	default:
		res.ImageDigest = digestOf(img, req.Image)
		cfg := e.containerConfig(req, res.Version, resolveHealth(req.Health, req.Spec, img))
		switch {
		case !cur.Running:
			res.Message = fmt.Sprintf("would deploy %s as version %s (version %s is %s)", req.Image, res.Version, res.PreviousVersion, cur.State)
		case cur.ImageID != img.ID:
			res.Message = fmt.Sprintf("would replace version %s (%s) by %s (%s)", res.PreviousVersion, shortDigest(cur.Digest()), res.Version, shortDigest(res.ImageDigest))
		case cur.Labels[LabelSpecHash] != cfg.Labels[LabelSpecHash]:
			res.Message = fmt.Sprintf("would redeploy version %s: same image, different settings (env, ports, mounts or limits)", res.Version)
		default:
			res.Outcome, res.Version = Unchanged, res.PreviousVersion
			res.Message = fmt.Sprintf("%s with the same settings already runs as version %s; nothing would change", req.Image, res.PreviousVersion)
		}
		if res.Outcome == WouldChange && pullPolicy(req.Pull, req.Image) == PullAlways {
			res.Message += " (the pull policy is always: a pull may also find a newer image)"
		}
	}
	return res, nil
}
