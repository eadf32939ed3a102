package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Reconcile repairs what a crash (even SIGKILL mid-deploy) or an engine
// outage left behind, so that exactly one container per app runs:
//   - each journaled deploy that did not finish is completed if its new
//     container had passed the health gate, else undone (new container
//     removed, old one started again) and recorded as interrupted;
//   - containers that were created but never started are removed, and any
//     running container other than the app's current one is stopped;
//   - results that could not be recorded (state dir full or read-only)
//     are recorded once it takes writes again.
//
// Apps with a deploy in progress are skipped; that deploy repairs its own.
// So are apps blocked by a corrupt state file (see StateError): only an
// operator knows what their containers should be. A newly found corrupt
// file is reported in the error, once; the other apps are repaired anyway.
func (e *Engine) Reconcile(ctx context.Context) error {
	errs := e.store.takeFound()
	js, err := e.store.Journals()
	if err != nil {
		errs = append(errs, err)
	}
	journaled := map[string]bool{}
	for _, j := range js {
		journaled[j.App] = true
		if e.store.Check(j.App) != nil {
			continue
		}
		if err := e.withLock(j.App, func() error { return e.repairJournal(ctx, j) }); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range e.store.Pending() {
		if journaled[p.App] || e.store.Check(p.App) != nil {
			continue // its journal's repair records it, or it is blocked
		}
		if err := e.withLock(p.App, func() error {
			if _, still := e.store.pendingResult(p.DeployID); !still {
				return nil
			}
			return e.store.Record(p)
		}); err != nil {
			errs = append(errs, err)
		}
	}
	lctx, cancel := e.opContext(ctx)
	cs, err := e.rt.List(lctx, map[string]string{LabelNode: e.node})
	cancel()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	apps := map[string]bool{}
	for _, c := range cs {
		apps[c.Labels[LabelApp]] = true
	}
	for app := range apps {
		if e.store.Check(app) != nil {
			continue
		}
		if err := e.withLock(app, func() error { return e.sweep(ctx, app) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// withLock runs fn under the app's lock, skipping apps a deploy holds.
func (e *Engine) withLock(app string, fn func() error) error {
	unlock, err := e.lock(app, reconcileID, "labagent")
	if err != nil {
		return nil
	}
	defer unlock()
	return fn()
}

// repairApp finishes an earlier unfinished deploy of app before a new one
// starts. The caller holds the app's lock.
func (e *Engine) repairApp(ctx context.Context, app string) error {
	j, ok, err := e.store.Journal(app)
	if err != nil {
		return err
	}
	if ok {
		if err := e.repairJournal(ctx, j); err != nil {
			return fmt.Errorf("an earlier deploy of %s (%s) is unfinished and cannot be repaired yet: %w", app, j.DeployID, err)
		}
	}
	return e.sweep(ctx, app)
}

// repairJournal completes or undoes one unfinished run. Each engine call
// is bounded (opContext), and the old version's gate by its own timeout,
// so a hung engine cannot hold the app's lock for ever.
func (e *Engine) repairJournal(ctx context.Context, j Journal) error {
	lctx, cancel := e.opContext(ctx)
	cs, err := e.containers(lctx, j.App)
	cancel()
	if err != nil {
		return err
	}
	var old, nw *Container
	for i := range cs {
		switch cs[i].ID {
		case j.OldContainer:
			old = &cs[i]
		case j.NewContainer:
			nw = &cs[i]
		}
	}
	res := Result{DeployID: j.DeployID, App: j.App, Kind: j.Kind, Version: j.Version, Image: j.Image,
		PreviousVersion: j.OldVersion, Caller: j.Caller, StartedAt: j.StartedAt, RequestHash: j.RequestHash}
	// A run that reported its end but could not record it: its report
	// stands, and the repair makes the node match it.
	reported, isReported := e.store.pendingResult(j.DeployID)
	if isReported && reported.Outcome != Succeeded {
		j.Committed = false
	}
	ctx, cancel = context.WithTimeout(ctx, e.revertBudget(old))
	defer cancel()
	if j.Committed && nw != nil {
		if !nw.Running {
			if err := e.rt.Start(ctx, nw.ID); err != nil {
				return err
			}
		}
		if old != nil && old.Running {
			if err := e.rt.Stop(ctx, old.ID, ownStopTimeout); err != nil {
				return err
			}
		}
		if err := e.store.SetCurrent(j.App, Current{ContainerID: nw.ID, Version: j.Version, DeployID: j.DeployID}); err != nil {
			return err
		}
		res.Outcome, res.ContainerID = Succeeded, nw.ID
		res.Message = fmt.Sprintf("the agent stopped after version %s passed its health gate; completed at restart", j.Version)
	} else {
		if nw != nil {
			if j.NewIsRetained {
				err = e.rt.Stop(ctx, nw.ID, ownStopTimeout)
			} else {
				err = e.rt.Remove(ctx, nw.ID)
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		res.Outcome, res.FailedPhase = Interrupted, PhaseNone
		res.Message = "the agent stopped in the middle of this deploy; the new container was removed"
		if old != nil && j.OldRunning {
			if !old.Running {
				if err := e.rt.Start(ctx, old.ID); err != nil {
					return err
				}
			}
			if err := e.waitHealthy(ctx, old.ID, healthOf(old), func(Event) {}); err != nil {
				e.log.Warn("old version not healthy after reconcile", "app", j.App, "err", err)
			}
			res.ContainerID = old.ID
			res.Message += fmt.Sprintf(" and version %s runs again", j.OldVersion)
		}
	}
	if isReported {
		res = reported
	}
	if !e.store.recorded(j.DeployID) {
		if !isReported {
			res.FinishedAt = time.Now()
			res.Duration = res.FinishedAt.Sub(res.StartedAt)
		}
		if err := e.store.Record(res); err != nil {
			return err
		}
	}
	e.log.Warn("reconciled an unfinished deploy", "app", j.App, "deploy_id", j.DeployID, "outcome", res.Outcome, "message", res.Message)
	return e.store.DropJournal(j.App)
}

// sweep removes never-started containers and stops every running one
// except the app's current container.
func (e *Engine) sweep(ctx context.Context, app string) error {
	lctx, cancel := e.opContext(ctx)
	cs, err := e.containers(lctx, app)
	cancel()
	if err != nil {
		return err
	}
	cur := e.current(ctx, app, cs)
	for _, c := range cs {
		if cur != nil && c.ID == cur.ID {
			continue
		}
		var err error
		octx, cancel := e.opContext(ctx)
		switch {
		case c.State == "created":
			e.log.Warn("removing a container that was created but never started", "app", app, "container", c.Name)
			err = e.rt.Remove(octx, c.ID)
		case c.Running:
			e.log.Warn("stopping a second running container of the app", "app", app, "container", c.Name)
			err = e.rt.Stop(octx, c.ID, ownStopTimeout)
		}
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// RepairLoop reconciles at start and then, every interval, whenever an
// unfinished deploy is journaled or the last attempt failed (e.g. the engine
// was down), until ctx ends. The agent keeps serving meanwhile.
func (e *Engine) RepairLoop(ctx context.Context, interval time.Duration) {
	needed := true
	for {
		if needed {
			if err := e.Reconcile(ctx); err != nil {
				e.log.Warn("reconcile failed; will retry", "err", err, "retry_in", interval.String())
			} else {
				needed = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		// A journal of an app whose lock is held belongs to a deploy in
		// progress; only one nobody holds was left behind. Results that
		// could not be recorded wait for the state dir too.
		js, err := e.store.Journals()
		if err != nil {
			needed = true
		}
		for _, j := range js {
			if !e.locked(j.App) {
				needed = true
			}
		}
		for _, p := range e.store.Pending() {
			if !e.locked(p.App) {
				needed = true
			}
		}
	}
}
