package agentv1

// Hand-written request validation. The gRPC server's validator interceptor
// calls Validate on every request and turns an error into InvalidArgument, so
// each message names the field that is wrong and what would be right.
// (protovalidate annotations would need the BSR, which this project's build
// machines cannot reach; these methods are the equivalent.)

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/distribution/reference"
)

var (
	appNameRe  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	idRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	connNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// volumeRe and containerRe are the Docker Engine's own rules for
	// volume and container names.
	volumeRe    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
	containerRe = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)
)

// Limits the engine or the kernel sets, checked here so that a request the
// engine would refuse is refused before anything is pulled or recorded.
const (
	// minCPUs is the Docker Engine's smallest CPU limit (NanoCPUs 1e7).
	minCPUs = 0.01
	maxCPUs = 1024
	// maxLabelKey and maxLabelValue keep labels, which every container
	// listing carries, small.
	maxLabelKey   = 255
	maxLabelValue = 4096
	maxImageRef   = 512
)

// FieldError names an invalid request field.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateAppName checks an app name: it becomes part of container names and
// Docker labels, so it is held to DNS-label rules.
func ValidateAppName(field, name string) error {
	if name == "" {
		return fieldErr(field, "is required")
	}
	if !appNameRe.MatchString(name) {
		return fieldErr(field, "%q must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// hasControl reports a control character (C0, DEL or C1), which would
// garble logs, history and terminals, or a malformed UTF-8 sequence.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return true
		}
	}
	return false
}

// ValidateVersion checks a version label: it becomes a Docker label and is
// printed in history and status.
func ValidateVersion(field, v string) error {
	if len(v) > 128 || strings.ContainsAny(v, " ") || hasControl(v) {
		return fieldErr(field, "%q must be at most 128 characters without spaces or control characters", v)
	}
	return nil
}

// ValidateImage checks an image reference the way the Docker Engine reads
// it (name[:tag][@digest], lower-case name), so a typo is refused at once
// instead of failing the deploy's pull.
func ValidateImage(field, img string) error {
	if img == "" {
		return fieldErr(field, "is required, e.g. registry.example:5000/todo:v2")
	}
	if len(img) > maxImageRef || hasControl(img) {
		return fieldErr(field, "%.80q is not an image reference", img)
	}
	if _, err := reference.ParseNormalizedNamed(img); err != nil {
		return fieldErr(field, "%q is not an image reference (%v); e.g. registry.example:5000/todo:v2 or todo@sha256:<64 hex digits>", img, err)
	}
	return nil
}

func validateOptionalID(field, id string) error {
	if id != "" && !idRe.MatchString(id) {
		return fieldErr(field, "%q must be up to 128 letters, digits, '.', '_', ':' or '-'", id)
	}
	return nil
}

// Validate checks a GetNodeStatsRequest.
func (r *GetNodeStatsRequest) Validate() error {
	for i, m := range r.GetMounts() {
		if !path.IsAbs(m) {
			return fieldErr(fmt.Sprintf("mounts[%d]", i), "%q must be an absolute path", m)
		}
	}
	return nil
}

// Validate checks a DeployRequest.
func (r *DeployRequest) Validate() error {
	if err := ValidateAppName("app", r.GetApp()); err != nil {
		return err
	}
	if err := ValidateImage("image", r.GetImage()); err != nil {
		return err
	}
	if err := validateOptionalID("deploy_id", r.GetDeployId()); err != nil {
		return err
	}
	if err := ValidateVersion("version", r.GetVersion()); err != nil {
		return err
	}
	if err := r.GetSpec().validate("spec"); err != nil {
		return err
	}
	if err := r.GetHealth().validate("health"); err != nil {
		return err
	}
	if a := r.GetRegistryAuth(); a != nil && (a.GetUsername() != "" || a.GetPassword() != "") {
		if a.GetUsername() == "" {
			return fieldErr("registry_auth.username", "is required when a password is given")
		}
		if a.GetPassword() == "" {
			return fieldErr("registry_auth.password", "is required when a username is given")
		}
		if hasControl(a.GetUsername()) {
			return fieldErr("registry_auth.username", "must not contain control characters")
		}
		if hasControl(a.GetServerAddress()) {
			return fieldErr("registry_auth.server_address", "%q must not contain control characters", a.GetServerAddress())
		}
	}
	return nil
}

func (s *ContainerSpec) validate(field string) error {
	if s == nil {
		return nil
	}
	for i, p := range s.GetPorts() {
		f := fmt.Sprintf("%s.ports[%d]", field, i)
		if p.GetContainerPort() == 0 || p.GetContainerPort() > 65535 {
			return fieldErr(f+".container_port", "%d must be 1-65535", p.GetContainerPort())
		}
		if p.GetHostPort() > 65535 {
			return fieldErr(f+".host_port", "%d must be 0-65535 (0 picks a free port)", p.GetHostPort())
		}
		if pr := p.GetProtocol(); pr != "" && pr != "tcp" && pr != "udp" {
			return fieldErr(f+".protocol", "%q must be tcp or udp", pr)
		}
	}
	if err := validateEnv(field, s); err != nil {
		return err
	}
	for i, a := range s.GetEntrypoint() {
		if strings.ContainsRune(a, 0) {
			return fieldErr(fmt.Sprintf("%s.entrypoint[%d]", field, i), "must not contain a NUL byte")
		}
	}
	for i, a := range s.GetCommand() {
		if strings.ContainsRune(a, 0) {
			return fieldErr(fmt.Sprintf("%s.command[%d]", field, i), "must not contain a NUL byte")
		}
	}
	if err := validateRestartPolicy(s.GetRestartPolicy()); err != nil {
		return fieldErr(field+".restart_policy", "%v", err)
	}
	if err := validateNetworkMode(s.GetNetworkMode()); err != nil {
		return fieldErr(field+".network_mode", "%v", err)
	}
	if err := validateMounts(field, s.GetMounts()); err != nil {
		return err
	}
	if err := validateLabels(field+".labels", s.GetLabels()); err != nil {
		return err
	}
	const minMemory = 6 << 20 // the Docker Engine refuses less
	if mb := s.GetMemoryBytes(); mb < 0 || (mb > 0 && mb < minMemory) {
		return fieldErr(field+".memory_bytes", "%d must be 0 (no limit) or at least 6 MiB", mb)
	}
	if c := s.GetCpus(); math.IsNaN(c) || math.IsInf(c, 0) || c < 0 || (c > 0 && c < minCPUs) || c > maxCPUs {
		return fieldErr(field+".cpus", "%g must be 0 (no limit) or between %g and %d CPUs", c, minCPUs, maxCPUs)
	}
	if st := s.GetStopTimeout(); st != nil && (!st.IsValid() || st.AsDuration() < 0 || st.AsDuration() > time.Hour) {
		return fieldErr(field+".stop_timeout", "%s must be between 0 and 1h", st.AsDuration())
	}
	if u := s.GetUser(); len(u) > 256 || strings.ContainsRune(u, ' ') || hasControl(u) {
		return fieldErr(field+".user", "%q must be a user name or UID[:GID] without spaces or control characters", u)
	}
	if w := s.GetWorkdir(); w != "" && (!path.IsAbs(w) || hasControl(w)) {
		return fieldErr(field+".workdir", "%q must be an absolute path in the container", w)
	}
	return nil
}

func validateEnv(field string, s *ContainerSpec) error {
	for k, v := range s.GetEnv() {
		if !envKeyRe.MatchString(k) {
			return fieldErr(field+".env", "key %q is not a valid variable name", k)
		}
		if _, dup := s.GetSecretEnv()[k]; dup {
			return fieldErr(field+".secret_env", "key %q is also in env; give it once", k)
		}
		if strings.ContainsRune(v, 0) {
			return fieldErr(field+".env", "the value of %s contains a NUL byte, which no environment can hold", k)
		}
	}
	for k, v := range s.GetSecretEnv() {
		if !envKeyRe.MatchString(k) {
			return fieldErr(field+".secret_env", "key %q is not a valid variable name", k)
		}
		if strings.ContainsRune(v, 0) {
			// Never echo a secret value, not even in an error.
			return fieldErr(field+".secret_env", "the value of %s contains a NUL byte, which no environment can hold", k)
		}
	}
	return nil
}

// validateNetworkMode checks the form only; which modes this node allows
// is its host policy's business (the agent checks it).
func validateNetworkMode(m string) error {
	if c, ok := strings.CutPrefix(m, "container:"); ok {
		if !containerRe.MatchString(c) {
			return fmt.Errorf("%q: container:NAME needs a container name or ID", m)
		}
		return nil
	}
	if hasControl(m) || strings.ContainsAny(m, " /\\") {
		return fmt.Errorf("%q is not a network mode (bridge, host, none, container:NAME or a network name)", m)
	}
	return nil
}

func validateMounts(field string, ms []*Mount) error {
	targets := map[string]int{}
	for i, m := range ms {
		f := fmt.Sprintf("%s.mounts[%d]", field, i)
		src, tgt := m.GetSource(), m.GetTarget()
		if src == "" {
			return fieldErr(f+".source", "is required")
		}
		if !path.IsAbs(tgt) || hasControl(tgt) {
			return fieldErr(f+".target", "%q must be an absolute path in the container", tgt)
		}
		if path.Clean(tgt) == "/" {
			return fieldErr(f+".target", "/ is the container's own root; mount below it")
		}
		if j, dup := targets[path.Clean(tgt)]; dup {
			return fieldErr(f+".target", "%s is also the target of mounts[%d]", tgt, j)
		}
		targets[path.Clean(tgt)] = i
		switch m.GetType() {
		case MountType_MOUNT_TYPE_VOLUME:
			if !volumeRe.MatchString(src) {
				return fieldErr(f+".source", "%q is not a volume name (letters, digits, '_', '.' or '-', at least 2, starting with a letter or digit)", src)
			}
		default:
			if !path.IsAbs(src) {
				return fieldErr(f+".source", "%q must be an absolute host path for a bind mount (or set type VOLUME)", src)
			}
			if hasControl(src) {
				return fieldErr(f+".source", "%q must be a host path without control characters", src)
			}
		}
	}
	return nil
}

func validateLabels(field string, labels map[string]string) error {
	for k, v := range labels {
		switch {
		case k == "" || len(k) > maxLabelKey || hasControl(k) || strings.ContainsAny(k, " ="):
			return fieldErr(field, "key %.80q must be 1-%d characters without spaces, '=' or control characters", k, maxLabelKey)
		case strings.HasPrefix(k, "labfleet."):
			return fieldErr(field, "key %q: the labfleet.* labels are the agent's own", k)
		case len(v) > maxLabelValue || hasControl(v):
			return fieldErr(field, "the value of %q must be at most %d characters without control characters", k, maxLabelValue)
		}
	}
	return nil
}

func validateRestartPolicy(p string) error {
	switch p {
	case "", "no", "always", "unless-stopped", "on-failure":
		return nil
	}
	if n, ok := strings.CutPrefix(p, "on-failure:"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return nil
		}
	}
	return fmt.Errorf("%q must be no, always, unless-stopped or on-failure[:N]", p)
}

func (h *HealthCheck) validate(field string) error {
	if h == nil {
		return nil
	}
	if h.GetType() == HealthCheckType_HEALTH_CHECK_TYPE_HTTP && h.GetHttpPath() == "" {
		return fieldErr(field+".http_path", "is required for an HTTP health check, e.g. /healthz")
	}
	if p := h.GetHttpPath(); p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsRune(p, ' ') || hasControl(p)) {
		return fieldErr(field+".http_path", "%q must start with '/' and hold no spaces or control characters", p)
	}
	if h.GetHttpPort() > 65535 {
		return fieldErr(field+".http_port", "%d must be 1-65535", h.GetHttpPort())
	}
	if t := h.GetTimeout(); t != nil && (!t.IsValid() || t.AsDuration() < 0 || t.AsDuration() > time.Hour) {
		return fieldErr(field+".timeout", "%s must be between 0 (default 60s) and 1h", t.AsDuration())
	}
	if i := h.GetInterval(); i != nil && (!i.IsValid() || i.AsDuration() < 0 || i.AsDuration() > 5*time.Minute) {
		return fieldErr(field+".interval", "%s must be between 0 (default 1s) and 5m", i.AsDuration())
	}
	return nil
}

// Validate checks a RollbackRequest.
func (r *RollbackRequest) Validate() error {
	if err := ValidateAppName("app", r.GetApp()); err != nil {
		return err
	}
	if err := ValidateVersion("version", r.GetVersion()); err != nil {
		return err
	}
	if err := validateOptionalID("deploy_id", r.GetDeployId()); err != nil {
		return err
	}
	return r.GetHealth().validate("health")
}

// Validate checks a GetAppRequest.
func (r *GetAppRequest) Validate() error { return ValidateAppName("app", r.GetApp()) }

// Validate checks a GetHistoryRequest.
func (r *GetHistoryRequest) Validate() error {
	if r.GetApp() != "" {
		if err := ValidateAppName("app", r.GetApp()); err != nil {
			return err
		}
	}
	if r.GetLimit() > 1000 {
		return fieldErr("limit", "%d must be at most 1000", r.GetLimit())
	}
	return nil
}

// Validate checks a ConfigureReplicationRequest.
func (r *ConfigureReplicationRequest) Validate() error {
	if s := r.GetSettings(); s != nil {
		inc, off := s.GetAutoIncrementIncrement(), s.GetAutoIncrementOffset()
		if inc > 65535 {
			return fieldErr("settings.auto_increment_increment", "%d must be 1-65535", inc)
		}
		if off > 0 && inc > 0 && off > inc {
			return fieldErr("settings.auto_increment_offset", "%d must not exceed auto_increment_increment %d", off, inc)
		}
		switch strings.ToUpper(s.GetBinlogFormat()) {
		case "", "ROW", "MIXED", "STATEMENT":
		default:
			return fieldErr("settings.binlog_format", "%q must be ROW, MIXED or STATEMENT", s.GetBinlogFormat())
		}
	}
	if u := r.GetUser(); u != nil && u.GetName() == "" {
		return fieldErr("user.name", "is required when user is given")
	}
	seen := map[string]bool{}
	for i, src := range r.GetSources() {
		f := fmt.Sprintf("sources[%d]", i)
		if !connNameRe.MatchString(src.GetConnectionName()) {
			return fieldErr(f+".connection_name", "%q must be 1-64 letters, digits, '_' or '-'", src.GetConnectionName())
		}
		if seen[src.GetConnectionName()] {
			return fieldErr(f+".connection_name", "%q is given twice", src.GetConnectionName())
		}
		seen[src.GetConnectionName()] = true
		if src.GetHost() == "" {
			return fieldErr(f+".host", "is required")
		}
		if src.GetPort() == 0 || src.GetPort() > 65535 {
			return fieldErr(f+".port", "%d must be 1-65535", src.GetPort())
		}
		if src.GetUser() == "" {
			return fieldErr(f+".user", "is required")
		}
	}
	return nil
}

// Validate checks a GetReplicationStatusRequest.
func (r *GetReplicationStatusRequest) Validate() error {
	if n := r.GetConnectionName(); n != "" && !connNameRe.MatchString(n) {
		return fieldErr("connection_name", "%q must be 1-64 letters, digits, '_' or '-'", n)
	}
	return nil
}

var markerRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Validate checks a VerifyReplicationRequest.
func (r *VerifyReplicationRequest) Validate() error {
	if m := r.GetWriteMarker(); m != "" && !markerRe.MatchString(m) {
		return fieldErr("write_marker", "%q must be 1-128 letters, digits, '.', '_', ':' or '-'", m)
	}
	for i, m := range r.GetReadMarkers() {
		if !markerRe.MatchString(m) {
			return fieldErr(fmt.Sprintf("read_markers[%d]", i), "%q must be 1-128 letters, digits, '.', '_', ':' or '-'", m)
		}
	}
	return nil
}
