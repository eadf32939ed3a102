package deprules_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/labfleet/labfleet"

// binaryFolders are the top-level folders that hold one front end each.
var binaryFolders = []string{"agent", "controller", "plugins", "ansible-compat"}

// domainPackages must not reach the transport or the engine's SDK.
var domainPackages = []string{"agent/deploy", "internal/mariadb", "agent/nodestats", "agent/agentcheck", "agent/policy"}

// forbiddenInDomain are import path prefixes the domain packages must not
// depend on, directly or not.
var forbiddenInDomain = []string{"google.golang.org/grpc", "google.golang.org/protobuf", "github.com/docker/", "github.com/moby/", module + "/proto/"}

// releaseBinaries are the main packages `make build` ships, with the build
// tags each is built with.
var releaseBinaries = []struct{ pkg, tags string }{
	{"agent/cmd/labagent", ""},
	{"controller/cmd/labcontroller", ""},
	{"plugins/cmd/labfleet-checks", ""},
	{"plugins/cmd/labfleet-checks", "labfleet_lean"},
	{"ansible-compat/cmd/labfleet-ansible", ""},
	{"ansible-compat/cmd/labfleet-inventory", ""},
}

// testOnly are packages that exist for tests.
var testOnly = []string{module + "/internal/labtest", module + "/plugins/internal/plugintest", "testing", "net/http/httptest"}

type pkg struct {
	ImportPath   string
	Dir          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
	Module       *struct{ Path string }
}

// goList runs `go list -json` with args and decodes every package.
func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = root(t)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", dir, err)
	}
	return dir
}

// folder is the top-level folder of a package of this module ("" if it is
// not one of ours).
func folder(importPath string) string {
	rel, ok := strings.CutPrefix(importPath, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func TestBinaryFoldersImportOnlyInternalProtoAndThemselves(t *testing.T) {
	for _, p := range goList(t, "./...") {
		own := folder(p.ImportPath)
		if !contains(binaryFolders, own) {
			continue
		}
		for kind, imports := range map[string][]string{"imports": p.Imports, "test imports": p.TestImports, "external test imports": p.XTestImports} {
			for _, imp := range imports {
				if f := folder(imp); f != "" && f != own && f != "internal" && f != "proto" {
					t.Errorf("%s %s %s: %s/ may import only internal/, proto/ and itself; move the shared code to internal/",
						strings.TrimPrefix(p.ImportPath, module+"/"), kind, imp, own)
				}
			}
		}
	}
}

func TestDomainPackagesStayOffTheTransportAndTheEngineSDK(t *testing.T) {
	for _, d := range domainPackages {
		pkgs := goList(t, "-deps", "./"+d)
		by := map[string]pkg{}
		for _, p := range pkgs {
			by[p.ImportPath] = p
		}
		forbidden := func(path string) bool {
			for _, bad := range forbiddenInDomain {
				if strings.HasPrefix(path, bad) {
					return true
				}
			}
			return false
		}
		for _, p := range pkgs {
			for _, bad := range forbiddenInDomain {
				// Report where the chain enters the forbidden packages, once.
				if strings.HasPrefix(p.ImportPath, bad) && !importedOnlyByForbidden(pkgs, p.ImportPath, forbidden) {
					t.Errorf("%s depends on %s (%s): the agent's domain code must not use gRPC, protobuf or the Docker SDK; put that in agent/service or agent/docker",
						d, p.ImportPath, chain(by, module+"/"+d, p.ImportPath))
				}
			}
		}
	}
}

func TestReleaseBinariesLinkNoTestCode(t *testing.T) {
	for _, b := range releaseBinaries {
		args := []string{"-deps"}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		pkgs := goList(t, append(args, "./"+b.pkg)...)
		by := map[string]pkg{}
		for _, p := range pkgs {
			by[p.ImportPath] = p
		}
		name := b.pkg
		if b.tags != "" {
			name += " (-tags " + b.tags + ")"
		}
		if len(pkgs) < 10 {
			t.Fatalf("%s: go list found only %d packages", name, len(pkgs))
		}
		for _, p := range pkgs {
			if contains(testOnly, p.ImportPath) {
				t.Errorf("%s links %s (%s): test helpers stay out of release builds", name, p.ImportPath, chain(by, module+"/"+b.pkg, p.ImportPath))
			}
			if p.Module == nil || p.Module.Path != module {
				continue
			}
			for _, f := range p.GoFiles {
				if hasFaultInjection(t, filepath.Join(p.Dir, f)) {
					t.Errorf("%s compiles %s/%s, which holds the fault-injection hooks", name, p.ImportPath, f)
				}
			}
		}
	}
}

// hasFaultInjection reports whether file is built only with the
// labfleet_faultinject tag.
func hasFaultInjection(t *testing.T, file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "package ") {
			return false
		}
		if c, ok := strings.CutPrefix(line, "//go:build "); ok && strings.Contains(c, "labfleet_faultinject") && !strings.Contains(c, "!labfleet_faultinject") {
			return true
		}
	}
	return false
}

// importedOnlyByForbidden reports whether every package in pkgs that
// imports path is itself forbidden.
func importedOnlyByForbidden(pkgs []pkg, path string, forbidden func(string) bool) bool {
	for _, p := range pkgs {
		if contains(p.Imports, path) && !forbidden(p.ImportPath) {
			return false
		}
	}
	return true
}

// chain finds how from comes to depend on to, for the failure message.
func chain(by map[string]pkg, from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var path []string
			for p := to; p != ""; p = prev[p] {
				path = append([]string{strings.TrimPrefix(p, module+"/")}, path...)
			}
			return strings.Join(path, " -> ")
		}
		for _, imp := range by[cur].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return fmt.Sprintf("via %s", from)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
