package inventory

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Helpers shared by the tests. The comparison tests run the real Ansible
// tools; without them they skip, except under CI, where they fail. Under
// -short they always skip; the parser's own tests and fuzz seeds still run.

// ansibleTool returns the path of an Ansible command.
func ansibleTool(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: real-component test, skipped by -short", name)
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI needs Debian's ansible-core (apt-get install ansible-core)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// runAnsible runs an Ansible command isolated from the user's configuration:
// an empty ansible.cfg, a private HOME, and unparsable inventories failing
// instead of warning.
func runAnsible(t *testing.T, name string, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	tool := ansibleTool(t, name)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir,
		"ANSIBLE_CONFIG="+cfg,
		"ANSIBLE_INVENTORY_UNPARSED_FAILED=true",
		"ANSIBLE_NOCOLOR=true",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.Bytes(), errOut.String(), err
}

// fixtures lists files in testdata/<dir>, sorted.
func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	sort.Strings(paths)
	return paths
}

func absPath(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func mustLoad(t *testing.T, path string) *Inventory {
	t.Helper()
	inv, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return inv
}

func mustParseINI(t *testing.T, text string) *Inventory {
	t.Helper()
	inv, err := ParseINI("test.ini", []byte(text))
	if err != nil {
		t.Fatalf("ParseINI: %v\n%s", err, text)
	}
	return inv
}

// decodeJSON decodes with numbers kept as json.Number.
func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, data)
	}
	return v
}

// canonical makes Go values and decoded JSON comparable with
// reflect.DeepEqual while keeping the difference between an int and a float
// (Python prints 2000.0 for a float; Go's encoder would print 2000).
func canonical(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if strings.ContainsAny(s, ".eE") {
			f, _ := strconv.ParseFloat(s, 64)
			return "float:" + strconv.FormatFloat(f, 'g', -1, 64)
		}
		n, _ := new(big.Int).SetString(s, 10)
		return "int:" + n.String()
	case int:
		return "int:" + strconv.Itoa(v)
	case *big.Int:
		return "int:" + v.String()
	case float64:
		return "float:" + strconv.FormatFloat(v, 'g', -1, 64)
	case Unsafe:
		return map[string]any{"__ansible_unsafe": string(v)}
	case Vault:
		return map[string]any{"__ansible_vault": string(v)}
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = canonical(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = canonical(x)
		}
		return out
	}
	return v
}

// jsonText pretty-prints a value for failure messages.
func jsonText(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
