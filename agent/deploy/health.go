package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Gate defaults, like Kamal's (1 s probes) but with a longer deadline by
// default, since the lab's apps connect to MariaDB at start.
const (
	DefaultHealthTimeout  = 60 * time.Second
	DefaultHealthInterval = time.Second
	// noneStableFor is how long a container without a health check must
	// stay running to count as started.
	noneStableFor = 2 * time.Second
)

// gateError says why a container did not pass its health gate.
type gateError struct{ msg string }

func (e *gateError) Error() string { return e.msg }

// resolveHealth fills in the gate's defaults for a container made from img.
func resolveHealth(h Health, spec Spec, img ImageInfo) Health {
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Type == HealthAuto {
		switch {
		case h.Path != "":
			h.Type = HealthHTTP
		case img.HasHealthcheck:
			h.Type = HealthDocker
		default:
			h.Type = HealthNone
		}
	}
	if h.Type == HealthHTTP && h.Port == 0 {
		for _, p := range spec.Ports {
			if p.Protocol == "" || p.Protocol == "tcp" {
				h.Port = p.ContainerPort
				break
			}
		}
	}
	return h
}

func (h Health) describe() string {
	switch h.Type {
	case HealthHTTP:
		return fmt.Sprintf("HTTP GET %s on port %d", h.Path, h.Port)
	case HealthDocker:
		return "the image's HEALTHCHECK"
	default:
		return fmt.Sprintf("no health check (running for %s)", noneStableFor)
	}
}

// waitHealthy polls container id until it passes h, exits, or h.Timeout
// passes. The error, a *gateError, says which. It never waits past its
// deadline: the last wait is cut short and each probe gets at most
// ProbeTimeout or the time left. The interval has a floor (the engine's
// minInterval, MinHealthInterval by default).
func (e *Engine) waitHealthy(ctx context.Context, id string, h Health, emit func(Event)) error {
	h.Interval = max(h.Interval, e.lim.minInterval)
	deadline := time.Now().Add(h.Timeout)
	emit(Event{Phase: PhaseHealth, Message: fmt.Sprintf("waiting up to %s for %s", h.Timeout, h.describe())})
	last := "no probe yet"
	for {
		c, err := e.rt.Inspect(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case c.State == "exited" || c.State == "dead":
			return &gateError{fmt.Sprintf("container exited with code %d during the health gate", c.ExitCode)}
		case c.RestartCount > 0:
			// A running container's exit code reads 0 again; name it only
			// while the container is down.
			if c.Running {
				return &gateError{fmt.Sprintf("container restarted %d time(s) during the health gate", c.RestartCount)}
			}
			return &gateError{fmt.Sprintf("container restarted %d time(s) during the health gate (last exit code %d)", c.RestartCount, c.ExitCode)}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &gateError{fmt.Sprintf("not healthy within %s (%s; last: %s)", h.Timeout, h.describe(), last)}
		}
		if c.Running {
			pctx, cancel := context.WithTimeout(ctx, min(ProbeTimeout, left))
			ok, why := e.probe(pctx, gateClient, c, h)
			cancel()
			if ok {
				emit(Event{Phase: PhaseHealth, Message: "healthy: " + why})
				return nil
			}
			last = why
			if h.Type == HealthDocker && c.Health == "unhealthy" {
				return &gateError{"the image's HEALTHCHECK reports unhealthy"}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(h.Interval, max(time.Until(deadline), 0))):
		}
	}
}

// gateClient probes during the gate; each probe's context bounds it.
var gateClient = &http.Client{}

func (e *Engine) probe(ctx context.Context, client *http.Client, c Container, h Health) (bool, string) {
	switch h.Type {
	case HealthDocker:
		if c.Health == "healthy" {
			return true, "HEALTHCHECK healthy"
		}
		return false, "HEALTHCHECK " + orDash(c.Health)
	case HealthHTTP:
		addr, err := e.probeAddr(c, h.Port)
		if err != nil {
			return false, err.Error()
		}
		url := "http://" + addr + h.Path
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return false, "GET " + url + ": timed out"
			}
			return false, "GET " + url + ": " + err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 400 {
			return true, fmt.Sprintf("GET %s -> %d", url, resp.StatusCode)
		}
		return false, fmt.Sprintf("GET %s -> %d", url, resp.StatusCode)
	default:
		if !c.StartedAt.IsZero() && time.Since(c.StartedAt) >= noneStableFor {
			return true, "running for " + time.Since(c.StartedAt).Round(time.Second).String()
		}
		return false, "running for less than " + noneStableFor.String()
	}
}

// probeAddr finds where the agent can reach a container port: its published
// host port, else (host networking) the node address, else the container IP.
func (e *Engine) probeAddr(c Container, port int) (string, error) {
	if port == 0 {
		return "", errors.New("no port to probe: set the health port or publish one")
	}
	for _, b := range c.Ports {
		if b.ContainerPort == port && (b.Protocol == "" || b.Protocol == "tcp") && b.HostPort != 0 {
			host := b.HostIP
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = e.localIP()
			}
			return net.JoinHostPort(host, strconv.Itoa(b.HostPort)), nil
		}
	}
	if c.NetworkMode == "host" {
		return net.JoinHostPort(e.localIP(), strconv.Itoa(port)), nil
	}
	if c.IPAddress != "" {
		return net.JoinHostPort(c.IPAddress, strconv.Itoa(port)), nil
	}
	return "", fmt.Errorf("container port %d is not published and the container has no IP", port)
}

func (e *Engine) localIP() string {
	if ip := net.ParseIP(e.publishIP); ip != nil && !ip.IsUnspecified() {
		return e.publishIP
	}
	return "127.0.0.1"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// probeClient is used for one-off health probes (GetApp, ListApps).
var probeClient = &http.Client{Timeout: 2 * time.Second}
