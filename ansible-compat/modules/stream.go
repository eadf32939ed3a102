package modules

import (
	"fmt"

	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// collect reads a Deploy or Rollback stream to its result and returns the
// progress messages as "phase: message" lines (pull progress left out).
func collect(recv func() (deployreq.Message, error)) ([]string, *agentv1.DeployResult, error) {
	events := []string{}
	res, err := deployreq.Read(recv, func(ev *agentv1.DeployEvent) {
		if !deployreq.IsProgress(ev) {
			events = append(events, deployreq.PhaseName(ev.GetPhase())+": "+ev.GetMessage())
		}
	})
	return events, res, err
}

// fromDeployResult turns the agent's result into the module's: a new
// version running is changed; UNCHANGED, and a result replayed for a deploy
// id that had already finished, are not; FAILED and INTERRUPTED fail the
// task with the agent's message.
func fromDeployResult(res *agentv1.DeployResult, events []string) *Result {
	var r *Result
	switch res.GetOutcome() {
	case agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED:
		r = OK(!res.GetReplayed(), res.GetMessage())
		if res.GetReplayed() {
			r.Msg = fmt.Sprintf("deploy id %s had already finished; nothing was done now (recorded: %s)", res.GetDeployId(), res.GetMessage())
		}
	case agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED:
		r = OK(false, res.GetMessage())
	default:
		r = Fail(res.GetMessage())
		if r.Msg == "" {
			r.Msg = fmt.Sprintf("%s of %s ended %s", deployreq.KindName(res.GetKind()), res.GetApp(), deployreq.OutcomeName(res.GetOutcome()))
		}
		r.Set("failed_phase", deployreq.PhaseName(res.GetFailedPhase()))
	}
	running := res.GetVersion()
	if r.Failed {
		running = res.GetPreviousVersion()
	}
	logTail := res.GetLogTail()
	if logTail == nil {
		logTail = []string{}
	}
	return r.Set("app", res.GetApp()).
		Set("deploy_id", res.GetDeployId()).
		Set("outcome", deployreq.OutcomeName(res.GetOutcome())).
		Set("version", res.GetVersion()).
		Set("previous_version", res.GetPreviousVersion()).
		Set("running_version", running).
		Set("image", res.GetImage()).
		Set("image_digest", res.GetImageDigest()).
		Set("container_id", res.GetContainerId()).
		Set("replayed", res.GetReplayed()).
		Set("duration_seconds", res.GetDuration().AsDuration().Seconds()).
		Set("log_tail", logTail).
		Set("events", events)
}
