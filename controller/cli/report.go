package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labfleet/labfleet/controller/rollout"
	"github.com/labfleet/labfleet/internal/deployreq"
	agentv1 "github.com/labfleet/labfleet/proto/labfleet/agent/v1"
)

// reporter prints a rollout as it happens. On a terminal it streams one
// line per event with the elapsed time; under GitHub Actions it puts each
// node in its own log group and turns failures into ::error:: annotations.
// Nodes of a batch run in parallel, so with more than one node in flight
// their lines are buffered and printed together when the node finishes.
type reporter struct {
	mu       sync.Mutex
	out      io.Writer
	t0       time.Time
	gha      bool
	buffered bool
	bufs     map[string]*bytes.Buffer
}

func newReporter(out io.Writer, batch int, secrets []string) *reporter {
	r := &reporter{out: &masker{w: out, secrets: secrets}, t0: time.Now(), gha: os.Getenv("GITHUB_ACTIONS") == "true",
		buffered: batch > 1, bufs: map[string]*bytes.Buffer{}}
	if r.gha {
		for _, s := range secrets {
			// Masks must reach the runner before any line that could hold them.
			fmt.Fprintf(out, "::add-mask::%s\n", ghaEscape(s))
		}
	}
	return r
}

func (r *reporter) w(node string) io.Writer {
	if !r.buffered {
		return r.out
	}
	b := r.bufs[node]
	if b == nil {
		b = &bytes.Buffer{}
		r.bufs[node] = b
	}
	return b
}

// line prints one progress line; msg, which comes from an agent or the
// load balancer, is escaped.
func (r *reporter) line(node, phase, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w(node), "    [%s %6.1fs] %-8s %s\n", node, time.Since(r.t0).Seconds(), phase, esc(msg))
}

func (r *reporter) NodeStart(n rollout.Node, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gha && !r.buffered {
		fmt.Fprintf(r.out, "::group::%s: %s\n", n.Name, what)
		return
	}
	fmt.Fprintf(r.w(n.Name), "==> %s: %s\n", n.Name, what)
}

func (r *reporter) Note(n rollout.Node, msg string) { r.line(n.Name, "lb", msg) }

func (r *reporter) Event(node string, ev *agentv1.DeployEvent) {
	r.line(node, deployreq.PhaseName(ev.GetPhase()), ev.GetMessage())
}

func (r *reporter) NodeDone(n rollout.Node, o *rollout.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.w(n.Name)
	res, failedMsg := o.Result, ""
	if o.Reverted != nil || o.RevertErr != nil {
		res = o.Reverted
	}
	switch {
	case o.RevertErr != nil:
		failedMsg = "revert failed: " + o.RevertErr.Error()
	case o.Err != nil && o.Reverted == nil:
		failedMsg = o.Err.Error()
	}
	if failedMsg != "" {
		fmt.Fprintf(w, "    %s: ERROR: %s\n", n.Name, esc(failedMsg))
	} else if res != nil {
		fmt.Fprintf(w, "    %s: %s: %s\n", n.Name, strings.ToUpper(deployreq.OutcomeName(res.GetOutcome())), esc(res.GetMessage()))
		if len(res.GetLogTail()) > 0 {
			// The container's own words: a line break in one starts another
			// indented line, every other control character is escaped.
			fmt.Fprintf(w, "    last log lines of the failed container:\n")
			for _, entry := range res.GetLogTail() {
				for _, l := range escLines(entry) {
					fmt.Fprintf(w, "      | %s\n", l)
				}
			}
		}
	}
	if r.buffered {
		if r.gha {
			fmt.Fprintf(r.out, "::group::%s\n", n.Name)
		}
		io.Copy(r.out, w.(*bytes.Buffer))
	}
	if r.gha {
		fmt.Fprintln(r.out, "::endgroup::")
		if failedMsg == "" && res.GetOutcome() == agentv1.DeployOutcome_DEPLOY_OUTCOME_FAILED {
			failedMsg = res.GetMessage()
		}
		if failedMsg != "" {
			fmt.Fprintf(r.out, "::error title=labfleet: %s failed on %s::%s\n", ghaEscape(esc(res.GetApp())), ghaEscape(n.Name), ghaEscape(esc(failedMsg)))
		}
	}
}

// ghaEscape encodes data for a workflow command.
func ghaEscape(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// mdCell makes s safe in a Markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(esc(s), "|", `\|`) }

// ghaFinish appends the Markdown summary and sets the step outputs.
func ghaFinish(app, version, deployID string, s *rollout.Summary) error {
	result := "succeeded"
	if s.Failed != nil || s.Preflight != nil {
		result = "failed"
	}
	if p := os.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "### labfleet deploy of `%s` %s: %s\n\n", app, version, result)
		fmt.Fprintf(&b, "| node | result | running | previous | took |\n|---|---|---|---|---|\n")
		for _, o := range s.Nodes {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(o.Node.Name), nodeResultText(o), mdCell(orDash(o.Running())),
				mdCell(orDash(o.Result.GetPreviousVersion())), o.Took.Round(100*time.Millisecond))
		}
		if s.Preflight != nil {
			fmt.Fprintf(&b, "\nNothing was changed: %s\n", esc(s.Preflight.Error()))
		}
		fmt.Fprintf(&b, "\nDeploy id `%s`, %s in all.\n", deployID, s.Took.Round(100*time.Millisecond))
		if err := appendFile(p, b.String()); err != nil {
			return err
		}
	}
	if p := os.Getenv("GITHUB_OUTPUT"); p != "" {
		return appendFile(p, fmt.Sprintf("version=%s\nresult=%s\ndeploy-id=%s\n", esc(version), result, deployID))
	}
	return nil
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

func nodeResultText(o *rollout.Outcome) string {
	switch {
	case o.Skipped:
		return "not touched"
	case o.Reverted != nil && o.RevertErr == nil:
		return "reverted"
	case o.RevertErr != nil:
		return "REVERT FAILED"
	case o.Err != nil:
		return "error"
	}
	return deployreq.OutcomeName(o.Result.GetOutcome())
}
