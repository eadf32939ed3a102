package modules

import (
	"errors"
	"fmt"
	"io"
	"strings"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// deployMsg is what DeployResponse and RollbackResponse have in common.
type deployMsg interface {
	GetEvent() *agentv1.DeployEvent
	GetResult() *agentv1.DeployResult
}

// collect reads a Deploy or Rollback stream to its result and returns the
// progress messages as "phase: message" lines (pull progress left out).
func collect(recv func() (deployMsg, error)) ([]string, *agentv1.DeployResult, error) {
	events := []string{}
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return events, nil, errors.New("the agent ended the stream without a result")
		}
		if err != nil {
			return events, nil, err
		}
		if ev := m.GetEvent(); ev != nil && ev.GetTotalBytes() == 0 && ev.GetCurrentBytes() == 0 {
			events = append(events, phaseName(ev.GetPhase())+": "+ev.GetMessage())
		}
		if res := m.GetResult(); res != nil {
			return events, res, nil
		}
	}
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
			r.Msg = fmt.Sprintf("%s of %s ended %s", kindName(res.GetKind()), res.GetApp(), outcomeName(res.GetOutcome()))
		}
		r.Set("failed_phase", phaseName(res.GetFailedPhase()))
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
		Set("outcome", outcomeName(res.GetOutcome())).
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

func phaseName(p agentv1.DeployPhase) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "DEPLOY_PHASE_"))
}

func outcomeName(o agentv1.DeployOutcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "DEPLOY_OUTCOME_"))
}

func kindName(k agentv1.DeployKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "DEPLOY_KIND_"))
}
