package deployreq_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/labfleet/labfleet/internal/deployreq"
)

// Options the request's validation lets through but the agent or its
// Docker Engine refuses (or gets wrong) mid-deploy, after the lock and the
// pull, are refused by Build, naming the option, so that no node is
// contacted for them.
func TestBuild_RefusesWhatTheEngineWouldRefuse(t *testing.T) {
	tests := []struct {
		name   string
		change func(*deployreq.Options)
		opt    deployreq.Opt
		want   string
	}{
		{"dot-dot bind", func(o *deployreq.Options) { o.Volumes = []string{"/srv/todo/../../etc:/data"} }, deployreq.OptVolumes, "the host path must not contain '..'"},
		{"dot-dot target", func(o *deployreq.Options) { o.Volumes = []string{"/srv/todo:/data/../etc"} }, deployreq.OptVolumes, "the target must not contain '..'"},
		{"host port twice", func(o *deployreq.Options) { o.Ports = []string{"8000:8000", "8000:9000"} }, deployreq.OptPorts, "host port 8000/tcp is published twice"},
		{"health path with docker", func(o *deployreq.Options) { o.Health = "docker" }, deployreq.OptHealthPath, "is for an HTTP health check, but the health check is docker"},
		{"health path with none", func(o *deployreq.Options) { o.Health = "none" }, deployreq.OptHealthPath, "but the health check is none"},
		{"http without port", func(o *deployreq.Options) { o.Ports, o.HealthPort = nil, 0 }, deployreq.OptHealthPath, "needs a port to probe"},
		{"auto http, udp only", func(o *deployreq.Options) { o.Health, o.Ports, o.HealthPort = "auto", []string{"53:53/udp"}, 0 }, deployreq.OptHealthPath, "needs a port to probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := full()
			tt.change(&o)
			_, err := deployreq.Build(o)
			var oe *deployreq.OptionError
			if !errors.As(err, &oe) || !errors.Is(err, deployreq.ErrOptions) {
				t.Fatalf("err = %v (%T), want an *OptionError", err, err)
			}
			if oe.Opt != tt.opt || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q for option %q, want %q naming %q", err, oe.Opt, tt.want, tt.opt)
			}
		})
	}
}

func TestBuild_AcceptsWhatTheEngineTakes(t *testing.T) {
	for _, change := range []func(*deployreq.Options){
		func(o *deployreq.Options) {
			o.Volumes = []string{"todo-data:/data", "/srv/cfg:/etc/todo:ro", "/srv/..hidden:/x"}
		},
		func(o *deployreq.Options) { o.Health, o.HealthPath, o.HealthPort = "none", "", 0 },
		func(o *deployreq.Options) { o.Ports, o.Health, o.HealthPath, o.HealthPort = nil, "auto", "", 0 },
		func(o *deployreq.Options) { o.Ports, o.HealthPort = []string{"53:53/udp", "8000"}, 0 },
		func(o *deployreq.Options) { o.Ports = []string{"8000:8000", "8000:8000/udp", "0:9000", "0:9001"} },
		func(o *deployreq.Options) { o.Ports = nil }, // the health port is given
	} {
		o := full()
		change(&o)
		if _, err := deployreq.Build(o); err != nil {
			t.Errorf("Build(%+v): %v", o, err)
		}
	}
}

func TestPreflight_StartFirstBesideAFixedHostPort(t *testing.T) {
	o := full() // start-first, 8000:8000
	err := deployreq.Preflight(o)
	var oe *deployreq.OptionError
	if !errors.As(err, &oe) || oe.Opt != deployreq.OptStrategy || !strings.Contains(err.Error(), "host port 8000 is fixed (8000:8000): use stop-first or let the engine pick the host port (0:8000)") {
		t.Fatalf("err = %v", err)
	}
	o.Ports = []string{"0:8000"}
	if err := deployreq.Preflight(o); err != nil {
		t.Errorf("start-first with an engine-picked port: %v", err)
	}
	o.Ports, o.Strategy = []string{"8000:8000"}, "stop-first"
	if err := deployreq.Preflight(o); err != nil {
		t.Errorf("stop-first: %v", err)
	}
}
