package deployreq

import (
	"strconv"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// The words options take, mapped to the request's enums. Ansible users
// write underscores where the command line has hyphens; both are accepted.
var (
	healthTypes = map[string]agentv1.HealthCheckType{
		"": agentv1.HealthCheckType_HEALTH_CHECK_TYPE_UNSPECIFIED, "auto": agentv1.HealthCheckType_HEALTH_CHECK_TYPE_UNSPECIFIED,
		"http":   agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP,
		"docker": agentv1.HealthCheckType_HEALTH_CHECK_TYPE_DOCKER,
		"none":   agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE,
	}
	pullPolicies = map[string]agentv1.PullPolicy{
		"":               agentv1.PullPolicy_PULL_POLICY_UNSPECIFIED,
		"always":         agentv1.PullPolicy_PULL_POLICY_ALWAYS,
		"if-not-present": agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT,
		"if_not_present": agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT,
		"never":          agentv1.PullPolicy_PULL_POLICY_NEVER,
	}
	strategies = map[string]agentv1.DeployStrategy{
		"": agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST, "stop-first": agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST,
		"stop_first":  agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST,
		"start-first": agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST,
		"start_first": agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST,
	}
)

// Names people read for the agent's enums: one spelling everywhere
// (labcontroller's output and JSON, the Ansible modules' return values).
var (
	phaseNames = map[agentv1.DeployPhase]string{
		agentv1.DeployPhase_DEPLOY_PHASE_UNSPECIFIED: "",
		agentv1.DeployPhase_DEPLOY_PHASE_LOCK:        "lock",
		agentv1.DeployPhase_DEPLOY_PHASE_PULL:        "pull",
		agentv1.DeployPhase_DEPLOY_PHASE_CREATE:      "create",
		agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD:    "stop-old",
		agentv1.DeployPhase_DEPLOY_PHASE_START:       "start",
		agentv1.DeployPhase_DEPLOY_PHASE_HEALTH:      "health",
		agentv1.DeployPhase_DEPLOY_PHASE_PRUNE:       "prune",
		agentv1.DeployPhase_DEPLOY_PHASE_RECORD:      "record",
		agentv1.DeployPhase_DEPLOY_PHASE_REVERT:      "revert",
	}
	outcomeNames = map[agentv1.DeployOutcome]string{
		agentv1.DeployOutcome_DEPLOY_OUTCOME_UNSPECIFIED:  "unknown",
		agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED:    "succeeded",
		agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED:       "failed",
		agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED:    "unchanged",
		agentv1.DeployOutcome_DEPLOY_OUTCOME_INTERRUPTED:  "interrupted",
		agentv1.DeployOutcome_DEPLOY_OUTCOME_WOULD_CHANGE: "would-change",
	}
	// phaseActivities say what the agent is doing in a phase, for
	// messages such as "node2 sent nothing for 2m0s during the health gate".
	phaseActivities = map[agentv1.DeployPhase]string{
		agentv1.DeployPhase_DEPLOY_PHASE_UNSPECIFIED: "before its first progress report",
		agentv1.DeployPhase_DEPLOY_PHASE_LOCK:        "after taking the app's lock",
		agentv1.DeployPhase_DEPLOY_PHASE_PULL:        "during the image pull",
		agentv1.DeployPhase_DEPLOY_PHASE_CREATE:      "while creating the new container",
		agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD:    "while stopping the old container",
		agentv1.DeployPhase_DEPLOY_PHASE_START:       "while starting the new container",
		agentv1.DeployPhase_DEPLOY_PHASE_HEALTH:      "during the health gate",
		agentv1.DeployPhase_DEPLOY_PHASE_PRUNE:       "while pruning old containers",
		agentv1.DeployPhase_DEPLOY_PHASE_RECORD:      "while recording the result",
		agentv1.DeployPhase_DEPLOY_PHASE_REVERT:      "while putting the old version back",
	}
	kindNames = map[agentv1.DeployKind]string{
		agentv1.DeployKind_DEPLOY_KIND_UNSPECIFIED: "unknown",
		agentv1.DeployKind_DEPLOY_KIND_DEPLOY:      "deploy",
		agentv1.DeployKind_DEPLOY_KIND_ROLLBACK:    "rollback",
	}
	healthNames = map[agentv1.AppHealth]string{
		agentv1.AppHealth_APP_HEALTH_UNSPECIFIED: "unknown",
		agentv1.AppHealth_APP_HEALTH_HEALTHY:     "healthy",
		agentv1.AppHealth_APP_HEALTH_UNHEALTHY:   "unhealthy",
		agentv1.AppHealth_APP_HEALTH_STARTING:    "starting",
		agentv1.AppHealth_APP_HEALTH_NONE:        "none",
		agentv1.AppHealth_APP_HEALTH_STOPPED:     "stopped",
	}
)

// named returns m's name for v; a value newer than this build is shown by
// its number, so it is visible rather than mislabelled.
func named[E ~int32](m map[E]string, v E) string {
	if n, ok := m[v]; ok {
		return n
	}
	return "unknown(" + strconv.Itoa(int(v)) + ")"
}

// PhaseName is a deploy phase as people read it, e.g. "stop-old" ("" for
// none).
func PhaseName(p agentv1.DeployPhase) string { return named(phaseNames, p) }

// PhaseActivity says what the agent does in phase p, as the end of a
// sentence: "during the health gate", "while stopping the old container".
func PhaseActivity(p agentv1.DeployPhase) string {
	if a, ok := phaseActivities[p]; ok {
		return a
	}
	return "in phase " + named(phaseNames, p)
}

// OutcomeName is a deploy outcome, e.g. "succeeded" or "would-change".
func OutcomeName(o agentv1.DeployOutcome) string { return named(outcomeNames, o) }

// KindName is "deploy" or "rollback".
func KindName(k agentv1.DeployKind) string { return named(kindNames, k) }

// HealthName is an app's health, e.g. "healthy" or "stopped".
func HealthName(h agentv1.AppHealth) string { return named(healthNames, h) }
