package mariadb

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestUserDatabases_LeavesOutSystemOnes(t *testing.T) {
	m, s := fakeManager(t)
	s.databases = []string{"app", "information_schema", "labfleet", "mysql", "performance_schema", "shop", "sys"}
	dbs, err := m.UserDatabases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(dbs, ",") != "app,shop" {
		t.Fatalf("UserDatabases = %q, want app,shop", dbs)
	}
}

func TestOptionFile_KeepsThePasswordOutOfArgsAndDisk(t *testing.T) {
	m := &Manager{addr: "[::1]:3307", login: "admin", password: `p"a\ss\n#x`}
	tmpBefore, _ := os.ReadDir(os.TempDir())
	cmd := exec.Command("cat", "/dev/fd/3")
	arg, done, err := m.withCredentials(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if arg != "--defaults-extra-file=/dev/fd/3" {
		t.Errorf("argument %q", arg)
	}
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if tmpAfter, _ := os.ReadDir(os.TempDir()); len(tmpAfter) > len(tmpBefore) {
		t.Errorf("a file appeared in %s", os.TempDir())
	}
	// In a double-quoted option value MariaDB reads \" as " and \\ as \,
	// and \n as a newline: both must be escaped to arrive as given.
	want := "[client]\nhost=::1\nport=3307\nuser=admin\npassword=\"p\\\"a\\\\ss\\\\n#x\"\n"
	if string(b) != want {
		t.Errorf("option file:\n%s\nwant:\n%s", b, want)
	}

	bad := &Manager{addr: "no-port"}
	if _, _, err := bad.withCredentials(exec.Command("true")); err == nil {
		t.Error("withCredentials accepted an address without a port")
	}
}

func TestDump_RefusesNothingToDump(t *testing.T) {
	m, _ := fakeManager(t)
	var buf bytes.Buffer
	err := m.Dump(context.Background(), nil, &buf)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "MariaDB at 10.0.0.1:3306 has no databases of its own") {
		t.Fatalf("Dump(no databases) = %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("Dump wrote %d bytes", buf.Len())
	}
}

func TestLoad_RefusesANodeWithDataUnlessForced(t *testing.T) {
	m, s := fakeManager(t)
	s.databases = []string{"app", "mysql", "shop"}
	_, _, err := m.Load(context.Background(), strings.NewReader("-- dump\n"), false)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "already has databases (app, shop)") ||
		!strings.Contains(err.Error(), "--force") {
		t.Fatalf("Load = %v; want ErrConflict naming app and shop and --force", err)
	}
	// Refused before anything ran, not even STOP ALL SLAVES.
	wantStatements(t, s)
}

func TestGTIDLine(t *testing.T) {
	cases := map[string]string{
		"-- SET GLOBAL gtid_slave_pos='1-1-42';\n":                            "1-1-42",
		"-- SET GLOBAL gtid_slave_pos='1-1-42,2-2-7';\n":                      "1-1-42,2-2-7",
		"-- SET GLOBAL gtid_slave_pos='';\n":                                  "",
		"SET GLOBAL gtid_slave_pos='1-1-42';\n":                               "no match", // not the commented form --master-data=2 writes
		"-- SET GLOBAL gtid_slave_pos='1-1-42'; DROP x;\n":                    "1-1-42",
		"-- SET GLOBAL gtid_slave_pos='1-1-4'' OR 1=1';\n":                    "no match",
		"INSERT INTO t VALUES ('-- SET GLOBAL gtid_slave_pos=''9-9-9'';');\n": "no match",
	}
	for line, want := range cases {
		mm := gtidLine.FindStringSubmatch(line)
		got := "no match"
		if mm != nil {
			got = mm[1]
		}
		if got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}
