package deploy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// run is one deploy or rollback in progress.
type run struct {
	e    *Engine
	emit func(Event)
	mask *masker
	res  Result
	j    Journal
	// budget is the deadline of the run's current stage, which started
	// at stageStart, for the message when it passes.
	budget     budget
	stageStart time.Time
	old        *Container // the app's current container before this run, if any
	// oldWasRunning: only a container that was serving is started again on revert.
	oldWasRunning bool
	// currentSet: the new container was recorded as the app's current one.
	currentSet bool
	// withholdLogs: the new container has secrets this run cannot mask.
	withholdLogs bool
	// revertIncomplete: a revert step failed (e.g. the engine went away), so
	// the journal stays and the repair loop finishes the revert later.
	revertIncomplete bool
}

func (e *Engine) newRun(kind Kind, app, id, caller, hash string, m *masker, emit func(Event)) *run {
	now := time.Now()
	r := &run{e: e, mask: m, res: Result{DeployID: id, App: app, Kind: kind, Caller: caller, StartedAt: now, RequestHash: hash}}
	r.emit = func(ev Event) {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		ev.Message = capText(m.String(ev.Message), maxMessageLen)
		if emit != nil {
			emit(ev)
		}
		faultAt(ev.Phase)
	}
	r.j = Journal{DeployID: id, Kind: kind, App: app, Caller: caller, StartedAt: now, RequestHash: hash}
	return r
}

// Deploy runs req to completion. It returns an error only when nothing was
// changed and nothing recorded: ErrLocked, ErrInvalid, ErrDeployIDReused,
// ErrCorruptState, or ErrUnavailable before the first change. Every other
// outcome, failures included, is a Result, recorded unless the state dir
// refuses it (then the result says so and the repair loop records it).
// No secret value of req appears in the result, its events or the error.
func (e *Engine) Deploy(ctx context.Context, req Request, emit func(Event)) (Result, error) {
	m := newMasker(req.Spec.SecretEnv, req.Auth)
	res, err := e.deploy(ctx, req, m, emit)
	return res, m.Error(err)
}

func (e *Engine) deploy(ctx context.Context, req Request, m *masker, emit func(Event)) (Result, error) {
	hash := e.requestHash(req)
	if err := e.store.Check(req.App); err != nil {
		return Result{}, err
	}
	if r, done, err := e.replay(&req.DeployID, req.App, hash); done || err != nil {
		return r, err
	}
	if req.StartFirst {
		for _, p := range req.Spec.Ports {
			if p.HostPort != 0 {
				return Result{}, fmt.Errorf("%w: start-first needs the old and new containers side by side, but host port %d is fixed; use stop-first or let the engine pick host ports", ErrInvalid, p.HostPort)
			}
		}
	}
	for k := range req.Spec.Labels {
		if strings.HasPrefix(k, "labfleet.") {
			return Result{}, fmt.Errorf("%w: label %q: the labfleet.* labels are the agent's own", ErrInvalid, k)
		}
	}
	if req.DryRun {
		res, err := e.plan(ctx, req)
		return m.Result(res), err
	}
	unlock, err := e.lockForDeploy(ctx, req.App, req.DeployID, req.Caller)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	// A deploy that has started finishes, even if the caller goes away
	// (stopping halfway would leave the app down), but within its deadline.
	base := context.WithoutCancel(ctx)
	r := e.newRun(KindDeploy, req.App, req.DeployID, req.Caller, hash, m, emit)
	pullBudget, restBudget := e.deployBudgets(req)
	ctx, cancel := r.stage(base, pullBudget)
	defer cancel()
	if err := e.repairApp(ctx, req.App); err != nil {
		return Result{}, err
	}
	// A re-sent id whose run a crash interrupted has just been recorded by
	// that repair (ours, or the repair loop's we waited out): replay it.
	if res, done, err := e.replay(&req.DeployID, req.App, hash); done || err != nil {
		return res, err
	}
	r.res.Image, r.j.Image = req.Image, req.Image
	return r.deploy(ctx, base, restBudget, req)
}

// deploy runs the deploy: up to the image under ctx (the pull stage), the
// rest under a deadline of rest, counted from when the image is ready.
func (r *run) deploy(ctx, base context.Context, rest budget, req Request) (Result, error) {
	e := r.e
	r.emit(Event{Phase: PhaseLock, Message: fmt.Sprintf("locked %s on %s for deploy %s", req.App, e.node, req.DeployID)})
	cs, err := e.containers(ctx, req.App)
	if err != nil {
		return Result{}, err
	}
	r.setOld(e.current(ctx, req.App, cs))
	r.res.Version = req.Version
	if r.res.Version == "" {
		r.res.Version = versionOf(req.Image, "")
	}

	img, err := e.ensureImage(ctx, req, r.emit)
	if err != nil {
		if isUnavailable(err) {
			return Result{}, err
		}
		return r.fail(ctx, PhasePull, err.Error()), nil
	}
	ctx, cancel := r.stage(base, rest)
	defer cancel()
	r.res.ImageDigest = digestOf(img, req.Image)
	if r.res.Version == "" {
		r.res.Version = versionOf(req.Image, r.res.ImageDigest)
	}
	r.j.Version = r.res.Version
	health := resolveHealth(req.Health, req.Spec, img)
	cfg := e.containerConfig(req, r.res.Version, health)
	cfg.Labels[LabelDigest] = r.res.ImageDigest

	if o := r.old; o != nil && o.Running && o.ImageID == img.ID && o.Labels[LabelSpecHash] == cfg.Labels[LabelSpecHash] {
		r.res.Version, r.res.ContainerID = o.Labels[LabelVersion], o.ID
		return r.finish(Unchanged, fmt.Sprintf("%s (%s) with the same settings is already running as version %s; nothing changed",
			req.Image, shortDigest(r.res.ImageDigest), o.Labels[LabelVersion])), nil
	}

	if err := e.store.SaveJournal(r.j); err != nil {
		return r.fail(ctx, PhaseCreate, err.Error()), nil
	}
	r.emit(Event{Phase: PhaseCreate, Message: "creating container " + cfg.Name})
	id, err := e.rt.Create(ctx, cfg)
	if err != nil {
		return r.fail(ctx, PhaseCreate, "cannot create container: "+err.Error()), nil
	}
	r.j.NewContainer, r.res.ContainerID = id, id
	if err := e.store.SaveJournal(r.j); err != nil {
		return r.fail(ctx, PhaseCreate, err.Error()), nil
	}
	return r.swap(ctx, id, health, req.StartFirst)
}

func (r *run) setOld(c *Container) {
	r.old = c
	if c != nil {
		r.oldWasRunning = c.Running
		r.res.PreviousVersion = c.Labels[LabelVersion]
		r.j.OldContainer, r.j.OldVersion, r.j.OldRunning = c.ID, c.Labels[LabelVersion], c.Running
	}
}

// swap replaces the old container by newID behind the health gate, and
// puts the old one back if the new one does not pass. Success is not
// reported until it is journaled and recorded: a success the state dir
// cannot hold would be undone by the next repair, so it is turned into a
// failure (and reverted) while the old version can still be put back.
func (r *run) swap(ctx context.Context, newID string, health Health, startFirst bool) (Result, error) {
	e := r.e
	if r.old != nil && r.oldWasRunning && !startFirst {
		r.emit(Event{Phase: PhaseStopOld, Message: fmt.Sprintf("stopping %s (version %s)", r.old.Name, r.res.PreviousVersion)})
		if err := e.rt.Stop(ctx, r.old.ID, ownStopTimeout); err != nil {
			return r.fail(ctx, PhaseStopOld, "cannot stop the old container: "+err.Error()), nil
		}
	}
	r.emit(Event{Phase: PhaseStart, Message: "starting " + shortID(newID)})
	if err := e.rt.Start(ctx, newID); err != nil {
		return r.fail(ctx, PhaseStart, "cannot start the new container: "+err.Error()), nil
	}
	if err := e.waitHealthy(ctx, newID, health, r.emit); err != nil {
		return r.fail(ctx, PhaseHealth, err.Error()), nil
	}
	r.j.Committed = true
	if err := e.store.SaveJournal(r.j); err != nil {
		r.j.Committed = false
		return r.fail(ctx, PhaseRecord, "cannot journal that the new version passed its health gate: "+err.Error()), nil
	}
	if r.old != nil && r.oldWasRunning && startFirst {
		r.emit(Event{Phase: PhaseStopOld, Message: fmt.Sprintf("stopping %s (version %s)", r.old.Name, r.res.PreviousVersion)})
		if err := e.rt.Stop(ctx, r.old.ID, ownStopTimeout); err != nil {
			e.log.Warn("cannot stop the old container after start-first deploy", "app", r.res.App, "err", r.mask.Error(err))
		}
	}
	if err := e.store.SetCurrent(r.res.App, Current{ContainerID: newID, Version: r.res.Version, DeployID: r.res.DeployID}); err != nil {
		return r.fail(ctx, PhaseRecord, "cannot record the app's current container: "+err.Error()), nil
	}
	r.currentSet = true
	r.emit(Event{Phase: PhasePrune, Message: fmt.Sprintf("keeping the last %d stopped versions", e.Retain)})
	msg := fmt.Sprintf("%s is now version %s", r.res.App, r.res.Version)
	if r.res.PreviousVersion != "" {
		msg += " (was " + r.res.PreviousVersion + ")"
	}
	r.settle(Succeeded, msg)
	if err := e.store.Record(r.res); err != nil {
		r.res.Outcome, r.res.FinishedAt, r.res.Duration = OutcomeNone, time.Time{}, 0
		return r.fail(ctx, PhaseRecord, "cannot record the result: "+err.Error()), nil
	}
	// Pruning comes after the record, so a failed record can still put
	// the old version back even with Retain 0.
	e.prune(ctx, r.res.App, newID)
	r.emit(Event{Phase: PhaseRecord, Message: r.res.Message})
	if err := e.store.DropJournal(r.res.App); err != nil {
		// The journal says committed: a repair completes, never undoes, it.
		e.log.Warn("cannot drop journal", "app", r.res.App, "err", err)
	}
	r.logFinished()
	return r.res, nil
}

// fail reverts whatever this run changed, records the failure and returns
// it. The revert has its own time budget, since the run's may be spent.
func (r *run) fail(ctx context.Context, phase Phase, cause string) Result {
	e := r.e
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		cause = fmt.Sprintf("deadline exceeded after %s (%s): %s", time.Since(r.stageStart).Round(time.Millisecond), r.budget.why, cause)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.revertBudget(r.old))
	defer cancel()
	r.res.FailedPhase = phase
	msg := fmt.Sprintf("%s failed: %s", phase, cause)
	if r.j.Committed {
		// Tell a repair after a crash to undo, not complete, this run.
		r.j.Committed = false
		if err := e.store.SaveJournal(r.j); err != nil {
			e.log.Warn("cannot journal the revert", "app", r.res.App, "err", err)
		}
	}
	if id := r.j.NewContainer; id != "" {
		if r.withholdLogs {
			msg += "; its log lines are withheld (it has secret env values this agent cannot read back to mask)"
		} else if tail, err := e.rt.Logs(ctx, id, 20); err == nil {
			r.res.LogTail = tail
		}
		r.emit(Event{Phase: PhaseRevert, Message: "removing the new container " + shortID(id)})
		if r.j.NewIsRetained {
			_ = e.rt.Stop(ctx, id, ownStopTimeout)
		} else if err := e.rt.Remove(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			msg += "; cannot remove the new container yet (the agent retries): " + err.Error()
			r.revertIncomplete = true
		}
		r.res.ContainerID = ""
	}
	if r.old != nil && r.oldWasRunning && phase >= PhaseStopOld {
		if note := r.restoreOld(ctx); note != "" {
			msg += "; " + note + " (the agent retries)"
			r.revertIncomplete = true
		} else {
			msg += fmt.Sprintf("; version %s is serving again", r.res.PreviousVersion)
			r.res.ContainerID = r.old.ID
		}
	}
	if r.old != nil && r.oldWasRunning && phase < PhaseStopOld {
		msg += fmt.Sprintf("; version %s was never stopped", r.res.PreviousVersion)
		r.res.ContainerID = r.old.ID
	}
	if r.currentSet && r.old != nil {
		if err := e.store.SetCurrent(r.res.App, Current{ContainerID: r.old.ID, Version: r.res.PreviousVersion}); err != nil {
			e.log.Warn("cannot record the old container as current again", "app", r.res.App, "err", err)
		}
	}
	return r.finish(Failed, msg)
}

// restoreOld starts the old container again and waits for its own gate.
func (r *run) restoreOld(ctx context.Context) string {
	e := r.e
	r.emit(Event{Phase: PhaseRevert, Message: fmt.Sprintf("starting %s (version %s) again", r.old.Name, r.res.PreviousVersion)})
	c, err := e.rt.Inspect(ctx, r.old.ID)
	if err != nil {
		return "cannot inspect the old container: " + err.Error()
	}
	if !c.Running {
		if err := e.rt.Start(ctx, r.old.ID); err != nil {
			return "cannot start the old container again: " + err.Error()
		}
	}
	if err := e.waitHealthy(ctx, r.old.ID, healthOf(r.old), r.emit); err != nil {
		return "the old container did not become healthy again: " + err.Error()
	}
	return ""
}

// settle fills in how the run ended, masked and capped, as it is recorded.
func (r *run) settle(o Outcome, msg string) {
	r.res.Outcome, r.res.Message = o, msg
	r.res.FinishedAt = time.Now()
	r.res.Duration = r.res.FinishedAt.Sub(r.res.StartedAt)
	r.res = r.mask.Result(r.res)
}

// finish records a result that needs no commit (failed, unchanged) and ends
// the journal. A result that cannot be recorded is still returned, saying
// so; it stays pending, and the journal stays, so the repair loop records
// it once the state dir takes writes again.
func (r *run) finish(o Outcome, msg string) Result {
	r.settle(o, msg)
	r.emit(Event{Phase: PhaseRecord, Message: r.res.Message})
	if err := r.e.store.Record(r.res); err != nil {
		r.e.log.Error("cannot record deploy result", "app", r.res.App, "deploy_id", r.res.DeployID, "err", err)
		r.res.Message += "; this result could not be recorded yet (the agent retries): " + err.Error()
		return r.res
	}
	if r.revertIncomplete {
		r.e.log.Warn("revert incomplete; the repair loop will finish it", "app", r.res.App, "deploy_id", r.res.DeployID)
	} else if err := r.e.store.DropJournal(r.res.App); err != nil {
		r.e.log.Warn("cannot drop journal", "app", r.res.App, "err", err)
	}
	r.logFinished()
	return r.res
}

func (r *run) logFinished() {
	r.e.log.Info("deploy finished", "app", r.res.App, "deploy_id", r.res.DeployID, "kind", r.res.Kind, "outcome", r.res.Outcome,
		"version", r.res.Version, "previous", r.res.PreviousVersion, "caller", r.res.Caller, "duration", r.res.Duration.Round(time.Millisecond).String())
}

// containerConfig builds the container; its spec hash (keyed, so it
// reveals nothing about secret values) lets a re-deploy of the same image
// and settings be recognised as a no-op.
func (e *Engine) containerConfig(req Request, version string, h Health) ContainerConfig {
	s := req.Spec
	env := make([]string, 0, len(s.Env)+len(s.SecretEnv)+2)
	// Every container learns its node; ${LABFLEET_NODE} and
	// ${LABFLEET_PUBLISH_IP} in env values expand to them, so one fleet-wide
	// deploy can say "my node's address" (e.g. DB_HOST with host networking).
	node := map[string]string{"LABFLEET_NODE": e.node, "LABFLEET_PUBLISH_IP": e.localIP()}
	for k, v := range node {
		if _, set := s.Env[k]; !set {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range s.Env {
		for nk, nv := range node {
			v = strings.ReplaceAll(v, "${"+nk+"}", nv)
		}
		env = append(env, k+"="+v)
	}
	secretNames := make([]string, 0, len(s.SecretEnv))
	for k, v := range s.SecretEnv {
		env = append(env, k+"="+v)
		secretNames = append(secretNames, k)
	}
	sort.Strings(env)
	sort.Strings(secretNames)
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	restart := s.RestartPolicy
	if restart == "" {
		restart = "unless-stopped"
	}
	cfg := ContainerConfig{
		Name: e.containerName(req.App), Image: req.Image, Env: env, Entrypoint: s.Entrypoint, Command: s.Command,
		Ports: s.Ports, PublishIP: e.publishIP, RestartPolicy: restart, NetworkMode: s.NetworkMode, Mounts: s.Mounts,
		MemoryBytes: s.MemoryBytes, NanoCPUs: int64(s.CPUs * 1e9), StopTimeout: roundUpSecond(s.StopTimeout), User: s.User, Workdir: s.Workdir,
	}
	hashIn, _ := json.Marshal(struct {
		C ContainerConfig
		L map[string]string
	}{C: ContainerConfig{Image: cfg.Image, Env: cfg.Env, Entrypoint: cfg.Entrypoint, Command: cfg.Command, Ports: cfg.Ports,
		PublishIP: cfg.PublishIP, RestartPolicy: cfg.RestartPolicy, NetworkMode: cfg.NetworkMode, Mounts: cfg.Mounts,
		MemoryBytes: cfg.MemoryBytes, NanoCPUs: cfg.NanoCPUs, StopTimeout: cfg.StopTimeout, User: cfg.User, Workdir: cfg.Workdir}, L: labels})
	mac := hmac.New(sha256.New, e.store.Key())
	mac.Write(hashIn)
	labels[LabelNode] = e.node
	labels[LabelApp] = req.App
	labels[LabelVersion] = version
	labels[LabelDeployID] = req.DeployID
	labels[LabelHealth] = healthLabel(h)
	labels[LabelSpecHash] = hex.EncodeToString(mac.Sum(nil))[:32]
	if len(secretNames) > 0 {
		labels[LabelSecretEnv] = strings.Join(secretNames, ",")
	}
	cfg.Labels = labels
	return cfg
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func shortDigest(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
