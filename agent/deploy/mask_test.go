package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Secret values of the tests below: an env secret, a multi-line one read
// from a file (so ending in a newline), a registry password, and a value
// too short to mask.
const (
	dbPassword  = "s3cr3t-Pa55word"
	certLine1   = "-----cert-line-one-xyzzy"
	certLine2   = "cert-line-two-plugh"
	regPassword = "reg-t0ken-9f8e7d"
)

func secretRequest(id, version string) Request {
	r := request(id, version)
	r.Spec.SecretEnv = map[string]string{"DB_PASSWORD": dbPassword, "TLS_KEY": certLine1 + "\n" + certLine2 + "\n", "PIN": "3"}
	r.Auth = &RegistryAuth{Username: "ci", Password: regPassword, Server: "registry.example"}
	return r
}

var secretValues = []string{dbPassword, certLine1, certLine2, regPassword}

// wantNoSecret fails the test if text holds any secret value.
func wantNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range secretValues {
		if strings.Contains(text, s) {
			t.Errorf("the secret %q appears in %s:\n%s", s, where, text)
		}
	}
}

// stateFiles returns every file under dir, concatenated.
func stateFiles(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "== %s\n%s\n", p, data)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDeploy_SecretsAreMaskedInEveryMessageLogTailAndRecord(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.rt.publish("todo:v2", behaviour{exits: true, exitCode: 3, logs: []string{
		"connecting to db://app:" + dbPassword + "@db:3306/todo",
		"loaded key " + certLine1,
		"  " + certLine2 + " (rest of key)",
		"registry token " + regPassword + " in use",
		"fatal: exit 3",
	}})
	env.deploy(secretRequest("d-1", "v1"))
	v1 := env.serving()

	var events []string
	res, err := env.e.Deploy(context.Background(), secretRequest("d-2", "v2"), func(ev Event) { events = append(events, ev.Message) })
	if err != nil || res.Outcome != Failed || res.ContainerID != v1.ID {
		t.Fatalf("deploy of an exiting v2: %+v, %v", res, err)
	}
	// Masked where it appears inside a longer line, named by its key; the
	// too-short PIN is not masked, so "code 3" still reads right.
	want := []string{
		"connecting to db://app:[secret DB_PASSWORD]@db:3306/todo",
		"loaded key [secret TLS_KEY]",
		"  [secret TLS_KEY] (rest of key)",
		"registry token [registry password] in use",
		"fatal: exit 3",
	}
	if strings.Join(res.LogTail, "\n") != strings.Join(want, "\n") {
		t.Errorf("log tail:\n%s\nwant:\n%s", strings.Join(res.LogTail, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(res.Message, "container exited with code 3") {
		t.Errorf("a too-short secret garbled the message: %q", res.Message)
	}

	replay, err := env.e.Deploy(context.Background(), secretRequest("d-2", "v2"), nil)
	if err != nil || !replay.Replayed {
		t.Fatalf("replay: %+v, %v", replay, err)
	}
	h := env.history()
	wantNoSecret(t, "the result", fmt.Sprintf("%+v", res))
	wantNoSecret(t, "the events", strings.Join(events, "\n"))
	wantNoSecret(t, "the replayed result", fmt.Sprintf("%+v", replay))
	wantNoSecret(t, "History", fmt.Sprintf("%+v", h))
	wantNoSecret(t, "the state dir", stateFiles(t, env.dir))
	if len(h) != 2 || strings.Join(h[0].LogTail, "\n") != strings.Join(want, "\n") {
		t.Errorf("history does not hold the masked log tail: %+v", h)
	}
}

func TestDeploy_SecretsAreMaskedInErrorsAndFailureCauses(t *testing.T) {
	env := newTestEnv(t)
	env.rt.publish("todo:v1", behaviour{})
	env.deploy(secretRequest("d-1", "v1"))

	// A registry that echoes the password back, as a failed login may.
	env.rt.fail("Pull", fmt.Errorf("unauthorized: password %q refused", regPassword))
	res, err := env.e.Deploy(context.Background(), secretRequest("d-2", "v2"), nil)
	if err != nil || res.Outcome != Failed || res.FailedPhase != PhasePull || !strings.Contains(res.Message, "[registry password]") {
		t.Fatalf("failed pull: %+v, %v", res, err)
	}
	wantNoSecret(t, "the failed pull's result", fmt.Sprintf("%+v", res))
	env.rt.fail("Pull", nil)

	env.rt.fail("Image", fmt.Errorf("%w: GET /images/todo:v3?auth=%s: connection refused", ErrUnavailable, dbPassword))
	_, err = env.e.Deploy(context.Background(), secretRequest("d-3", "v3"), nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "auth=[secret DB_PASSWORD]") {
		t.Fatalf("engine down: %v, want ErrUnavailable with the secret masked", err)
	}
	wantNoSecret(t, "the returned error", err.Error())
	wantNoSecret(t, "the state dir", stateFiles(t, env.dir))
}

// A rollback's target was deployed with secrets this request does not
// carry: they are read back from the container (and the names from its
// label) to mask its log lines, or the lines are withheld.
func TestRollback_RetainedContainersSecretsAreMaskedOrItsLogsWithheld(t *testing.T) {
	for _, reportsEnv := range []bool{true, false} {
		t.Run(fmt.Sprintf("runtime reports env %v", reportsEnv), func(t *testing.T) {
			env := newTestEnv(t)
			env.rt.noEnv = !reportsEnv
			env.rt.publish("todo:v1", behaviour{logs: []string{"db password is " + dbPassword}})
			env.rt.publish("todo:v2", behaviour{})
			env.deploy(secretRequest("d-1", "v1"))
			v1 := env.serving()
			if got := v1.Labels[LabelSecretEnv]; got != "DB_PASSWORD,PIN,TLS_KEY" {
				t.Fatalf("label %s = %q, want the secret names", LabelSecretEnv, got)
			}
			env.deploy(request("d-2", "v2"))
			v2 := env.serving()

			// A gate v1 cannot pass: its health port is not published.
			gate := &Health{Type: HealthHTTP, Path: "/healthz", Port: 9999, Timeout: 30 * time.Millisecond, Interval: time.Millisecond}
			res, err := env.e.Rollback(context.Background(), RollbackRequest{App: testApp, DeployID: "r-1", Health: gate}, nil)
			if err != nil || res.Outcome != Failed || res.ContainerID != v2.ID {
				t.Fatalf("rollback: %+v, %v", res, err)
			}
			if reportsEnv {
				if len(res.LogTail) != 1 || res.LogTail[0] != "db password is [secret DB_PASSWORD]" {
					t.Errorf("log tail %q", res.LogTail)
				}
			} else if len(res.LogTail) != 0 || !strings.Contains(res.Message, "log lines are withheld") {
				t.Errorf("without the env the log lines must be withheld: %+v", res)
			}
			wantNoSecret(t, "the rollback result", fmt.Sprintf("%+v", res))
			wantNoSecret(t, "the state dir", stateFiles(t, env.dir))
			wantNoSecret(t, "the labels", fmt.Sprint(v1.Labels))
		})
	}
}

func TestMasker_Rules(t *testing.T) {
	m := newMasker(map[string]string{"A": "abcd", "AB": "abcdefgh", "SHORT": "xyz", "EMPTY": "", "CRLF": "line-one\r\nline-two\r\n"}, nil)
	for in, want := range map[string]string{
		"abcdefgh abcd":          "[secret AB] [secret A]", // longest first
		"xyz stays, so does 3":   "xyz stays, so does 3",   // shorter than MinMaskedLen
		"got line-one then":      "got [secret CRLF] then",
		"line-two":               "[secret CRLF]",
		"no secrets here at all": "no secrets here at all",
	} {
		if got := m.String(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", maxLineLen)
	if got := m.Lines([]string{long})[0]; len(got) > maxLineLen+40 || !strings.HasSuffix(got, " bytes cut]") {
		t.Errorf("a long line is not capped: %d bytes, ends %q", len(got), got[len(got)-20:])
	}
}
