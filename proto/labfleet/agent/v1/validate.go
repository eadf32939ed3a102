package agentv1

// Hand-written request validation. The gRPC server's validator interceptor
// calls Validate on every request and turns an error into InvalidArgument, so
// each message names the field that is wrong and what would be right.
// (protovalidate annotations would need the BSR, which this project's build
// machines cannot reach; these methods are the equivalent.)

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	appNameRe  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	idRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	envKeyRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	connNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
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
	img := r.GetImage()
	switch {
	case img == "":
		return fieldErr("image", "is required, e.g. registry.example:5000/todo:v2")
	case len(img) > 512 || strings.ContainsAny(img, " \t\r\n"):
		return fieldErr("image", "%q is not an image reference", img)
	}
	if err := validateOptionalID("deploy_id", r.GetDeployId()); err != nil {
		return err
	}
	if v := r.GetVersion(); len(v) > 128 || strings.ContainsAny(v, " \t\r\n") {
		return fieldErr("version", "%q must be at most 128 characters without spaces", v)
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
	for k := range s.GetEnv() {
		if !envKeyRe.MatchString(k) {
			return fieldErr(field+".env", "key %q is not a valid variable name", k)
		}
		if _, dup := s.GetSecretEnv()[k]; dup {
			return fieldErr(field+".secret_env", "key %q is also in env; give it once", k)
		}
	}
	for k := range s.GetSecretEnv() {
		if !envKeyRe.MatchString(k) {
			return fieldErr(field+".secret_env", "key %q is not a valid variable name", k)
		}
	}
	if err := validateRestartPolicy(s.GetRestartPolicy()); err != nil {
		return fieldErr(field+".restart_policy", "%v", err)
	}
	for i, m := range s.GetMounts() {
		f := fmt.Sprintf("%s.mounts[%d]", field, i)
		if m.GetSource() == "" {
			return fieldErr(f+".source", "is required")
		}
		if !path.IsAbs(m.GetTarget()) {
			return fieldErr(f+".target", "%q must be an absolute path in the container", m.GetTarget())
		}
		if m.GetType() != MountType_MOUNT_TYPE_VOLUME && !path.IsAbs(m.GetSource()) {
			return fieldErr(f+".source", "%q must be an absolute host path for a bind mount (or set type VOLUME)", m.GetSource())
		}
	}
	const minMemory = 6 << 20 // the Docker Engine refuses less
	if mb := s.GetMemoryBytes(); mb < 0 || (mb > 0 && mb < minMemory) {
		return fieldErr(field+".memory_bytes", "%d must be 0 (no limit) or at least 6 MiB", mb)
	}
	if c := s.GetCpus(); c < 0 || c > 1024 {
		return fieldErr(field+".cpus", "%g must be between 0 (no limit) and 1024", c)
	}
	if st := s.GetStopTimeout(); st != nil && (st.AsDuration() < 0 || st.AsDuration() > time.Hour) {
		return fieldErr(field+".stop_timeout", "%s must be between 0 and 1h", st.AsDuration())
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
	if p := h.GetHttpPath(); p != "" && !strings.HasPrefix(p, "/") {
		return fieldErr(field+".http_path", "%q must start with '/'", p)
	}
	if h.GetHttpPort() > 65535 {
		return fieldErr(field+".http_port", "%d must be 1-65535", h.GetHttpPort())
	}
	if t := h.GetTimeout(); t != nil && (t.AsDuration() < 0 || t.AsDuration() > time.Hour) {
		return fieldErr(field+".timeout", "%s must be between 0 (default 60s) and 1h", t.AsDuration())
	}
	if i := h.GetInterval(); i != nil && (i.AsDuration() < 0 || i.AsDuration() > 5*time.Minute) {
		return fieldErr(field+".interval", "%s must be between 0 (default 1s) and 5m", i.AsDuration())
	}
	return nil
}

// Validate checks a RollbackRequest.
func (r *RollbackRequest) Validate() error {
	if err := ValidateAppName("app", r.GetApp()); err != nil {
		return err
	}
	if v := r.GetVersion(); len(v) > 128 || strings.ContainsAny(v, " \t\r\n") {
		return fieldErr("version", "%q must be at most 128 characters without spaces", v)
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
