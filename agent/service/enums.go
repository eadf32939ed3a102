package service

import (
	"github.com/labfleet/labfleet/agent/deploy"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// Explicit maps between the API's enums and the deploy engine's. The two
// are numbered independently (proto numbers are the wire format, the
// engine's are iota order), so nothing here converts by cast; a test walks
// every value of every proto enum from its descriptor.
var (
	pullFromPB = map[agentv1.PullPolicy]deploy.PullPolicy{
		agentv1.PullPolicy_PULL_POLICY_UNSPECIFIED:    deploy.PullDefault,
		agentv1.PullPolicy_PULL_POLICY_ALWAYS:         deploy.PullAlways,
		agentv1.PullPolicy_PULL_POLICY_IF_NOT_PRESENT: deploy.PullIfNotPresent,
		agentv1.PullPolicy_PULL_POLICY_NEVER:          deploy.PullNever,
	}
	healthTypeFromPB = map[agentv1.HealthCheckType]deploy.HealthType{
		agentv1.HealthCheckType_HEALTH_CHECK_TYPE_UNSPECIFIED: deploy.HealthAuto,
		agentv1.HealthCheckType_HEALTH_CHECK_TYPE_HTTP:        deploy.HealthHTTP,
		agentv1.HealthCheckType_HEALTH_CHECK_TYPE_DOCKER:      deploy.HealthDocker,
		agentv1.HealthCheckType_HEALTH_CHECK_TYPE_NONE:        deploy.HealthNone,
	}
	startFirstFromPB = map[agentv1.DeployStrategy]bool{
		agentv1.DeployStrategy_DEPLOY_STRATEGY_UNSPECIFIED: false,
		agentv1.DeployStrategy_DEPLOY_STRATEGY_STOP_FIRST:  false,
		agentv1.DeployStrategy_DEPLOY_STRATEGY_START_FIRST: true,
	}
	volumeFromPB = map[agentv1.MountType]bool{
		agentv1.MountType_MOUNT_TYPE_UNSPECIFIED: false,
		agentv1.MountType_MOUNT_TYPE_BIND:        false,
		agentv1.MountType_MOUNT_TYPE_VOLUME:      true,
	}
	phasePB = map[deploy.Phase]agentv1.DeployPhase{
		deploy.PhaseNone:    agentv1.DeployPhase_DEPLOY_PHASE_UNSPECIFIED,
		deploy.PhaseLock:    agentv1.DeployPhase_DEPLOY_PHASE_LOCK,
		deploy.PhasePull:    agentv1.DeployPhase_DEPLOY_PHASE_PULL,
		deploy.PhaseCreate:  agentv1.DeployPhase_DEPLOY_PHASE_CREATE,
		deploy.PhaseStopOld: agentv1.DeployPhase_DEPLOY_PHASE_STOP_OLD,
		deploy.PhaseStart:   agentv1.DeployPhase_DEPLOY_PHASE_START,
		deploy.PhaseHealth:  agentv1.DeployPhase_DEPLOY_PHASE_HEALTH,
		deploy.PhasePrune:   agentv1.DeployPhase_DEPLOY_PHASE_PRUNE,
		deploy.PhaseRecord:  agentv1.DeployPhase_DEPLOY_PHASE_RECORD,
		deploy.PhaseRevert:  agentv1.DeployPhase_DEPLOY_PHASE_REVERT,
	}
	outcomePB = map[deploy.Outcome]agentv1.DeployOutcome{
		deploy.OutcomeNone: agentv1.DeployOutcome_DEPLOY_OUTCOME_UNSPECIFIED,
		deploy.Succeeded:   agentv1.DeployOutcome_DEPLOY_OUTCOME_SUCCEEDED,
		deploy.Failed:      agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED,
		deploy.Unchanged:   agentv1.DeployOutcome_DEPLOY_OUTCOME_UNCHANGED,
		deploy.Interrupted: agentv1.DeployOutcome_DEPLOY_OUTCOME_INTERRUPTED,
		deploy.WouldChange: agentv1.DeployOutcome_DEPLOY_OUTCOME_WOULD_CHANGE,
	}
	kindPB = map[deploy.Kind]agentv1.DeployKind{
		deploy.KindNone:     agentv1.DeployKind_DEPLOY_KIND_UNSPECIFIED,
		deploy.KindDeploy:   agentv1.DeployKind_DEPLOY_KIND_DEPLOY,
		deploy.KindRollback: agentv1.DeployKind_DEPLOY_KIND_ROLLBACK,
	}
	// healthPB maps the engine's app health words.
	healthPB = map[string]agentv1.AppHealth{
		"healthy":   agentv1.AppHealth_APP_HEALTH_HEALTHY,
		"unhealthy": agentv1.AppHealth_APP_HEALTH_UNHEALTHY,
		"starting":  agentv1.AppHealth_APP_HEALTH_STARTING,
		"none":      agentv1.AppHealth_APP_HEALTH_NONE,
		"stopped":   agentv1.AppHealth_APP_HEALTH_STOPPED,
	}
)

// fromPB converts a request enum; a value this agent does not know (sent
// by a newer client) is refused rather than guessed.
func fromPB[P ~int32, D any](m map[P]D, v P, field string) (D, error) {
	d, ok := m[v]
	if !ok {
		return d, invalidEnum(field, int32(v))
	}
	return d, nil
}
