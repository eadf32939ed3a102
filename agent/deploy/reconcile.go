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
//     running container other than the app's current one is stopped.
//
// Apps with a deploy in progress are skipped; that deploy repairs its own.
func (e *Engine) Reconcile(ctx context.Context) error {
	js, err := e.store.Journals()
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range js {
		if err := e.withLock(j.App, func() error { return e.repairJournal(ctx, j) }); err != nil {
			errs = append(errs, err)
		}
	}
	cs, err := e.rt.List(ctx, map[string]string{LabelNode: e.node})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	apps := map[string]bool{}
	for _, c := range cs {
		apps[c.Labels[LabelApp]] = true
	}
	for app := range apps {
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
	js, err := e.store.Journals()
	if err != nil {
		return err
	}
	for _, j := range js {
		if j.App == app {
			if err := e.repairJournal(ctx, j); err != nil {
				return fmt.Errorf("an earlier deploy of %s (%s) is unfinished and cannot be repaired yet: %w", app, j.DeployID, err)
			}
		}
	}
	return e.sweep(ctx, app)
}

func (e *Engine) repairJournal(ctx context.Context, j Journal) error {
	cs, err := e.containers(ctx, j.App)
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
		PreviousVersion: j.OldVersion, Caller: j.Caller, StartedAt: j.StartedAt}
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
	if _, done := e.store.Finished(j.DeployID); !done {
		res.FinishedAt = time.Now()
		res.Duration = res.FinishedAt.Sub(res.StartedAt)
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
	cs, err := e.containers(ctx, app)
	if err != nil {
		return err
	}
	cur := e.current(ctx, app, cs)
	for _, c := range cs {
		if cur != nil && c.ID == cur.ID {
			continue
		}
		switch {
		case c.State == "created":
			e.log.Warn("removing a container that was created but never started", "app", app, "container", c.Name)
			if err := e.rt.Remove(ctx, c.ID); err != nil {
				return err
			}
		case c.Running:
			e.log.Warn("stopping a second running container of the app", "app", app, "container", c.Name)
			if err := e.rt.Stop(ctx, c.ID, ownStopTimeout); err != nil {
				return err
			}
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
		// progress; only one nobody holds was left behind.
		js, err := e.store.Journals()
		if err != nil {
			needed = true
		}
		for _, j := range js {
			if !e.locked(j.App) {
				needed = true
			}
		}
	}
}
