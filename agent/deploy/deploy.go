// Package deploy is the agent's deploy engine: it swaps an app's container
// for a new one behind a health gate, puts the old one back when anything
// fails, keeps stopped versions for rollback, records history, and after a
// crash reconciles what it finds with what it had journaled.
//
// It talks to containers only through Runtime and only ever lists or
// touches containers labelled with its own node name, so several agents can
// share one engine. It must never log or record secret environment values or
// registry passwords.
package deploy

import (
	"errors"
	"time"
)

// Labels put on every container the engine creates.
const (
	LabelNode     = "labfleet.node"
	LabelApp      = "labfleet.app"
	LabelVersion  = "labfleet.version"
	LabelDeployID = "labfleet.deploy-id"
	LabelHealth   = "labfleet.health"
	LabelSpecHash = "labfleet.spec-hash"
	// LabelDigest is the image's registry digest (or local ID) at deploy
	// time, so status and rollbacks report the same digest the deploy did.
	LabelDigest = "labfleet.image-digest"
	// LabelSecretEnv names (never the values of) the container's secret
	// env variables, comma-separated, so a rollback that fails can mask
	// them in the container's log lines.
	LabelSecretEnv = "labfleet.secret-env"
)

// Errors the service maps to gRPC codes.
var (
	// ErrLocked: another deploy of the same app holds its lock.
	ErrLocked = errors.New("app is locked by another deploy")
	// ErrUnavailable: the container engine cannot be reached.
	ErrUnavailable = errors.New("container engine unavailable")
	// ErrNotFound: no such app or retained version.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request cannot work on this node.
	ErrInvalid = errors.New("invalid request")
	// ErrDeployIDReused: the deploy id was already used for a different
	// request (another app, kind, image or settings). The error also
	// matches ErrInvalid; see IDReusedError.
	ErrDeployIDReused = errors.New("deploy id already used for a different request")
	// ErrCorruptState: a state file of the app (its journal or history)
	// cannot be read back. The file was quarantined and the app is blocked
	// until an operator repairs it; see StateError.
	ErrCorruptState = errors.New("corrupt deploy state")
)

// IDReusedError refuses a deploy id that was already used for a different
// request: replaying the old result would report something the caller did
// not ask for. It matches ErrDeployIDReused and, for callers that only know
// the older sentinel, ErrInvalid.
type IDReusedError struct{ msg string }

func (e *IDReusedError) Error() string { return e.msg }

// Is makes errors.Is match ErrDeployIDReused and ErrInvalid.
func (e *IDReusedError) Is(target error) bool {
	return target == ErrDeployIDReused || target == ErrInvalid
}

// Phase names a step of a deploy.
type Phase int

// Phases, in order.
const (
	PhaseNone Phase = iota
	PhaseLock
	PhasePull
	PhaseCreate
	PhaseStopOld
	PhaseStart
	PhaseHealth
	PhasePrune
	PhaseRecord
	PhaseRevert
)

var outcomeNames = [...]string{"unknown", "succeeded", "failed", "unchanged", "interrupted", "would-change"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

func (k Kind) String() string {
	switch k {
	case KindDeploy:
		return "deploy"
	case KindRollback:
		return "rollback"
	}
	return "unknown"
}

// Digest is the image digest recorded on the container at deploy time,
// else the local image ID.
func (c *Container) Digest() string {
	if d := c.Labels[LabelDigest]; d != "" {
		return d
	}
	return c.ImageID
}

var phaseNames = [...]string{"", "lock", "pull", "create", "stop-old", "start", "health", "prune", "record", "revert"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return "unknown"
}

// Outcome is how a deploy ended.
type Outcome int

// Outcomes.
const (
	OutcomeNone Outcome = iota
	Succeeded
	Failed
	Unchanged
	Interrupted
	WouldChange
)

// Kind is deploy or rollback.
type Kind int

// Kinds.
const (
	KindNone Kind = iota
	KindDeploy
	KindRollback
)

// PullPolicy says when to pull.
type PullPolicy int

// Pull policies; PullDefault means Always for :latest or untagged, else IfNotPresent.
const (
	PullDefault PullPolicy = iota
	PullAlways
	PullIfNotPresent
	PullNever
)

// HealthType selects the gate.
type HealthType int

// Health gate types; HealthAuto means HTTP when a path is set, Docker when
// the image has a HEALTHCHECK, otherwise None.
const (
	HealthAuto HealthType = iota
	HealthHTTP
	HealthDocker
	HealthNone
)

// Health is the gate a container must pass. It is stored (without secrets)
// as a label on the container so reverts and rollbacks reuse it.
type Health struct {
	Type     HealthType    `json:"type"`
	Path     string        `json:"path,omitempty"`
	Port     int           `json:"port,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
}

// Port publishes a container port.
type Port struct {
	HostPort      int
	ContainerPort int
	Protocol      string // tcp or udp
}

// Mount is a bind mount or volume.
type Mount struct {
	Source, Target string
	ReadOnly       bool
	Volume         bool
}

// Spec is what `docker run` users pass.
type Spec struct {
	Ports         []Port
	Env           map[string]string
	SecretEnv     map[string]string
	Entrypoint    []string
	Command       []string
	RestartPolicy string
	NetworkMode   string
	Mounts        []Mount
	Labels        map[string]string
	MemoryBytes   int64
	CPUs          float64
	StopTimeout   time.Duration
	User          string
	Workdir       string
}

// RegistryAuth are credentials for a private registry; never logged.
type RegistryAuth struct {
	Username, Password, Server string
}

// Request asks for a deploy.
type Request struct {
	App        string
	Image      string
	DeployID   string
	Version    string
	Spec       Spec
	Health     Health
	Auth       *RegistryAuth
	StartFirst bool
	Pull       PullPolicy
	Caller     string
	DryRun     bool
}

// RollbackRequest asks to go back to a retained version.
type RollbackRequest struct {
	App      string
	Version  string
	DeployID string
	Health   *Health // nil: the target container's own recorded gate
	Caller   string
}

// Event is a progress report.
type Event struct {
	Time    time.Time
	Phase   Phase
	Message string
	Current int64
	Total   int64
}

// Result is how a deploy or rollback ended; it is what history records.
type Result struct {
	DeployID        string        `json:"deploy_id"`
	App             string        `json:"app"`
	Kind            Kind          `json:"kind"`
	Outcome         Outcome       `json:"outcome"`
	Version         string        `json:"version,omitempty"`
	Image           string        `json:"image,omitempty"`
	ImageDigest     string        `json:"image_digest,omitempty"`
	ContainerID     string        `json:"container_id,omitempty"`
	PreviousVersion string        `json:"previous_version,omitempty"`
	Message         string        `json:"message,omitempty"`
	FailedPhase     Phase         `json:"failed_phase,omitempty"`
	LogTail         []string      `json:"log_tail,omitempty"`
	Caller          string        `json:"caller,omitempty"`
	StartedAt       time.Time     `json:"started_at"`
	FinishedAt      time.Time     `json:"finished_at"`
	Duration        time.Duration `json:"duration"`
	// RequestHash is a keyed hash of the request (see requestHash), so a
	// re-sent deploy id is replayed only for the same request.
	RequestHash string `json:"request_hash,omitempty"`
	Replayed    bool   `json:"-"`
}

// App is an app's current state on this node.
type App struct {
	Name             string
	Container        *Container // nil when no container runs
	Health           string     // healthy, unhealthy, starting, none, stopped
	RetainedVersions []string
}
