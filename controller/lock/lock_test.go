package lock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLock_ContentionNamesHolderAndWaitQueues(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h1 := Holder{App: "todo", DeployID: "d1", PID: 1, User: "ci", Host: "control", Command: "deploy", Since: time.Now()}
	release, err := Acquire(ctx, dir, h1, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, dir, Holder{App: "todo", DeployID: "d2"}, 0)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "deploy d1") || !strings.Contains(err.Error(), "ci@control") {
		t.Fatalf("second acquire: want ErrHeld naming d1, got %v", err)
	}
	// Another app is not blocked.
	r2, err := Acquire(ctx, dir, Holder{App: "other"}, 0)
	if err != nil {
		t.Fatalf("a different app was blocked: %v", err)
	}
	r2()
	// --lock-wait queues behind the holder.
	go func() { time.Sleep(300 * time.Millisecond); release() }()
	r3, err := Acquire(ctx, dir, Holder{App: "todo", DeployID: "d3"}, 10*time.Second)
	if err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	r3()
}
