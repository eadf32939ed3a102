package deployreq

import (
	"time"

	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// ResultView is a DeployResult as front ends print it in JSON: enums by
// their names ("succeeded", "rollback", "health"), times in RFC 3339 and
// the duration in seconds, where encoding the proto message directly
// would give enum numbers and {seconds, nanos} objects.
type ResultView struct {
	DeployID        string   `json:"deploy_id"`
	App             string   `json:"app"`
	Kind            string   `json:"kind"`
	Outcome         string   `json:"outcome"`
	Version         string   `json:"version,omitempty"`
	PreviousVersion string   `json:"previous_version,omitempty"`
	Image           string   `json:"image,omitempty"`
	ImageDigest     string   `json:"image_digest,omitempty"`
	ContainerID     string   `json:"container_id,omitempty"`
	Message         string   `json:"message,omitempty"`
	FailedPhase     string   `json:"failed_phase,omitempty"`
	LogTail         []string `json:"log_tail,omitempty"`
	Caller          string   `json:"caller,omitempty"`
	StartedAt       string   `json:"started_at,omitempty"`
	FinishedAt      string   `json:"finished_at,omitempty"`
	DurationSeconds float64  `json:"duration_seconds"`
	Replayed        bool     `json:"replayed,omitempty"`
}

// View returns r as a ResultView; nil stays nil.
func View(r *agentv1.DeployResult) *ResultView {
	if r == nil {
		return nil
	}
	v := &ResultView{
		DeployID: r.GetDeployId(), App: r.GetApp(), Kind: KindName(r.GetKind()), Outcome: OutcomeName(r.GetOutcome()),
		Version: r.GetVersion(), PreviousVersion: r.GetPreviousVersion(), Image: r.GetImage(), ImageDigest: r.GetImageDigest(),
		ContainerID: r.GetContainerId(), Message: r.GetMessage(), FailedPhase: PhaseName(r.GetFailedPhase()),
		LogTail: r.GetLogTail(), Caller: r.GetCaller(), DurationSeconds: r.GetDuration().AsDuration().Seconds(), Replayed: r.GetReplayed(),
	}
	if t := r.GetStartedAt(); t != nil {
		v.StartedAt = t.AsTime().Format(time.RFC3339Nano)
	}
	if t := r.GetFinishedAt(); t != nil {
		v.FinishedAt = t.AsTime().Format(time.RFC3339Nano)
	}
	return v
}

// Views returns each of rs as a ResultView.
func Views(rs []*agentv1.DeployResult) []*ResultView {
	out := make([]*ResultView, len(rs))
	for i, r := range rs {
		out[i] = View(r)
	}
	return out
}
