package haproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSocket answers each connection's one command line from answers
// (canned HAProxy replies) and records the commands, like HAProxy's
// non-interactive CLI: one command, one answer, close.
type fakeSocket struct {
	mu       sync.Mutex
	commands []string
}

func startFakeSocket(t *testing.T, answers map[string]string) (string, *fakeSocket) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeSocket{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			f.mu.Lock()
			f.commands = append(f.commands, line)
			f.mu.Unlock()
			_, _ = c.Write([]byte(answers[strings.TrimSuffix(line, "\n")]))
			c.Close()
		}
	}()
	return path, f
}

func (f *fakeSocket) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

func TestCommand_SendsOneLineAndReadsToEOF(t *testing.T) {
	path, f := startFakeSocket(t, map[string]string{"show info": "Name: HAProxy\nVersion: 2.6.12\n\n"})
	out, err := New(path).Command(context.Background(), "show info")
	if err != nil {
		t.Fatal(err)
	}
	if out != "Name: HAProxy\nVersion: 2.6.12\n\n" {
		t.Errorf("answer = %q", out)
	}
	if got := f.sent(); len(got) != 1 || got[0] != "show info\n" {
		t.Errorf("sent %q, want one \"show info\\n\"", got)
	}
}

func TestCommand_UserLevelSocketIsRejectedWithAHint(t *testing.T) {
	// The answer HAProxy 2.6 gives on a `level user` socket.
	path, _ := startFakeSocket(t, map[string]string{"set server app/node1 state drain": "Permission denied\n\n"})
	err := New(path).SetState(context.Background(), "app", "node1", StateDrain)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "level admin") {
		t.Errorf("err = %v, want ErrRejected mentioning level admin", err)
	}
}

func TestCommand_UnknownCommandIsRejected(t *testing.T) {
	path, _ := startFakeSocket(t, map[string]string{
		"show nothing": "Unknown command, but maybe one of the following ones is a better match:\n  help : list\n\n",
	})
	_, err := New(path).Command(context.Background(), "show nothing")
	if !errors.Is(err, ErrRejected) {
		t.Errorf("err = %v, want ErrRejected", err)
	}
}

func TestCommand_RefusesSecondLines(t *testing.T) {
	path, f := startFakeSocket(t, nil)
	_, err := New(path).Command(context.Background(), "show info\nshutdown frontend fe")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v, want ErrInvalid", err)
	}
	if got := f.sent(); len(got) != 0 {
		t.Errorf("sent %q, want nothing", got)
	}
}

func TestSetState_RefusesBadArgumentsWithoutSending(t *testing.T) {
	path, f := startFakeSocket(t, nil)
	c := New(path)
	for _, args := range [][3]string{
		{"app", "node1", "down"},
		{"app", "node1;shutdown sessions server app/node2", StateDrain},
		{"app b", "node1", StateDrain},
		{"", "node1", StateReady},
	} {
		if err := c.SetState(context.Background(), args[0], args[1], args[2]); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetState(%q): err = %v, want ErrInvalid", args, err)
		}
	}
	if got := f.sent(); len(got) != 0 {
		t.Errorf("sent %q, want nothing", got)
	}
}

func TestSetState_UnexpectedAnswerIsAnError(t *testing.T) {
	path, _ := startFakeSocket(t, map[string]string{
		"set server app/node1 state ready": "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
	})
	err := New(path).SetState(context.Background(), "app", "node1", StateReady)
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "expects") {
		t.Errorf("err = %v, want ErrRejected quoting HAProxy", err)
	}
}

func TestCommand_NothingListeningSaysWhatToCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := l.Addr().String()
	l.Close()
	for _, addr := range []string{tcpAddr, filepath.Join(t.TempDir(), "missing.sock")} {
		_, err := New(addr).Command(context.Background(), "show stat")
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", addr, err)
			continue
		}
		for _, want := range []string{addr, "level admin"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %q", addr, err, want)
			}
		}
	}
}

// silentListener accepts connections and never answers, until the test
// ends.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

func TestCommand_SilentSocketTimesOutWithinTimeout(t *testing.T) {
	addr := silentListener(t)
	c := &Client{Addr: addr, Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := c.Command(context.Background(), "show stat")
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if err != nil && !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("error %q does not say the socket did not answer", err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %s, want about 300ms", took)
	}
}

func TestCommand_CallerCancelEndsTheWait(t *testing.T) {
	addr := silentListener(t)
	c := &Client{Addr: addr, Timeout: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Command(ctx, "show stat")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s after cancel at 100ms", took)
	}
}
