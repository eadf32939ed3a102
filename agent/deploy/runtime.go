package deploy

import (
	"context"
	"time"
)

// ownStopTimeout asks Runtime.Stop for the container's own stop timeout
// (set at create from the deploy's spec), so a stop drains as configured.
const ownStopTimeout time.Duration = 0

// Runtime is the container engine as the deploy engine needs it. The docker
// package implements it over the Docker Engine API. Implementations return
// errors wrapping ErrUnavailable when the engine cannot be reached and
// ErrNotFound for a missing container or image.
type Runtime interface {
	// Image reports a local image by reference; ok is false when absent.
	Image(ctx context.Context, ref string) (img ImageInfo, ok bool, err error)
	// Pull pulls ref, reporting progress; it returns the registry's error
	// (e.g. bad credentials) as an error.
	Pull(ctx context.Context, ref string, auth *RegistryAuth, progress func(current, total int64, status string)) error
	// Create creates (does not start) a container.
	Create(ctx context.Context, c ContainerConfig) (id string, err error)
	Start(ctx context.Context, id string) error
	// Stop stops gracefully within timeout (engine default when 0).
	// Implementations round a timeout up to whole seconds, never down.
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// Remove force-removes a container.
	Remove(ctx context.Context, id string) error
	Inspect(ctx context.Context, id string) (Container, error)
	// List lists containers of every state whose labels include all of labels.
	List(ctx context.Context, labels map[string]string) ([]Container, error)
	// Logs returns the last lines of a container's stdout and stderr.
	Logs(ctx context.Context, id string, lines int) ([]string, error)
	// RemoveImage removes an image unless a container still uses it.
	RemoveImage(ctx context.Context, id string) error
}

// ImageInfo describes a local image.
type ImageInfo struct {
	ID             string
	RepoDigests    []string
	HasHealthcheck bool
}

// ContainerConfig is everything Create needs.
type ContainerConfig struct {
	Name          string
	Image         string
	Env           []string // KEY=VALUE, secrets included: never log this
	Entrypoint    []string
	Command       []string
	Labels        map[string]string
	Ports         []Port
	PublishIP     string
	RestartPolicy string
	NetworkMode   string
	Mounts        []Mount
	MemoryBytes   int64
	NanoCPUs      int64
	StopTimeout   time.Duration
	User          string
	Workdir       string
}

// Container is a container as the engine reports it.
type Container struct {
	ID           string
	Name         string
	Image        string // the reference it was created from
	ImageID      string
	Labels       map[string]string
	State        string // created, running, restarting, exited, dead...
	Running      bool
	ExitCode     int
	Health       string // healthy, unhealthy, starting, or "" without a HEALTHCHECK
	RestartCount int
	Created      time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	Ports        []PortBinding
	IPAddress    string
	NetworkMode  string
	// Env is the container's environment (KEY=VALUE), secrets included:
	// never log it. Inspect should fill it; List may leave it nil. The
	// engine reads it only to mask a retained container's secret values
	// in its log lines, and withholds those lines when it is nil.
	Env []string
}

// PortBinding is a published port.
type PortBinding struct {
	HostIP        string
	HostPort      int
	ContainerPort int
	Protocol      string
}
