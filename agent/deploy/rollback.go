package deploy

import (
	"context"
	"fmt"
	"strings"
)

// Rollback starts a retained (stopped) version of an app again through the
// health gate: req.Version, or else the newest retained version that
// differs from the running one. On failure the running version is put back.
func (e *Engine) Rollback(ctx context.Context, req RollbackRequest, emit func(Event)) (Result, error) {
	hash := e.rollbackHash(req)
	if err := e.store.Check(req.App); err != nil {
		return Result{}, err
	}
	if r, done, err := e.replay(&req.DeployID, req.App, hash); done || err != nil {
		return r, err
	}
	unlock, err := e.lockForDeploy(ctx, req.App, req.DeployID, req.Caller)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	// Like a deploy, a rollback finishes without its caller; its deadline
	// is set once its target (and so its gate) is known.
	ctx = context.WithoutCancel(ctx)
	if err := e.repairApp(ctx, req.App); err != nil {
		return Result{}, err
	}
	// A re-sent id whose run a crash interrupted has just been recorded by
	// that repair (ours, or the repair loop's we waited out): replay it.
	if r, done, err := e.replay(&req.DeployID, req.App, hash); done || err != nil {
		return r, err
	}
	lctx, cancel := e.opContext(ctx)
	defer cancel()
	cs, err := e.containers(lctx, req.App)
	if err != nil {
		return Result{}, err
	}
	if len(cs) == 0 {
		return Result{}, fmt.Errorf("%w: no app %q on node %s", ErrNotFound, req.App, e.node)
	}
	old := e.current(lctx, req.App, cs)
	target, retained := pickRollback(cs, old, req.Version)
	if target == nil {
		what := "an earlier version"
		if req.Version != "" {
			what = "version " + req.Version
		}
		list := "none"
		if len(retained) > 0 {
			list = strings.Join(retained, ", ")
		}
		return Result{}, fmt.Errorf("%w: %s of %s is not retained on %s (retained: %s)", ErrNotFound, what, req.App, e.node, list)
	}
	// The target's secrets were given to an earlier deploy: read them back
	// to mask them in its log lines, or withhold those lines.
	if target.Labels[LabelSecretEnv] != "" && target.Env == nil {
		if c, err := e.rt.Inspect(lctx, target.ID); err == nil {
			target.Env = c.Env
		}
	}
	m, canMask := containerMasker(*target)
	r := e.newRun(KindRollback, req.App, req.DeployID, req.Caller, hash, m, emit)
	r.withholdLogs = !canMask
	r.setOld(old)
	r.res.Version, r.res.Image, r.res.ContainerID = target.Labels[LabelVersion], target.Image, target.ID
	r.res.ImageDigest = target.Digest()
	r.j.Version, r.j.Image, r.j.NewContainer, r.j.NewIsRetained = r.res.Version, target.Image, target.ID, true
	h := healthOf(target)
	if req.Health != nil {
		h = *req.Health
		if h.Timeout <= 0 {
			h.Timeout = DefaultHealthTimeout
		}
		if h.Interval <= 0 {
			h.Interval = DefaultHealthInterval
		}
	}
	ctx, cancelRun := r.stage(ctx, e.rollbackBudget(h))
	defer cancelRun()
	r.emit(Event{Phase: PhaseLock, Message: fmt.Sprintf("locked %s on %s for rollback %s to version %s", req.App, e.node, req.DeployID, r.res.Version)})
	if err := e.store.SaveJournal(r.j); err != nil {
		return r.fail(ctx, PhaseCreate, err.Error()), nil
	}
	return r.swap(ctx, target.ID, h, false)
}

// pickRollback finds the container to go back to among the stopped ones,
// newest first, and lists the retained versions for error messages.
func pickRollback(cs []Container, cur *Container, version string) (*Container, []string) {
	var target *Container
	var retained []string
	curVersion := ""
	if cur != nil {
		curVersion = cur.Labels[LabelVersion]
	}
	for i := range cs {
		c := &cs[i]
		if (cur != nil && c.ID == cur.ID) || c.Running || c.State == "created" {
			continue
		}
		v := c.Labels[LabelVersion]
		retained = append(retained, v)
		if target != nil {
			continue
		}
		if (version != "" && v == version) || (version == "" && v != curVersion) {
			target = c
		}
	}
	return target, retained
}
