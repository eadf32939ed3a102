package mariadb

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestRealMariaDB runs the Manager against real servers: two replicating
// master-master with a password that needs escaping everywhere, one without
// a binary log that is then seeded from the first. The servers start once
// and the subtests run in order.
func TestRealMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three MariaDB servers")
	}
	// Root's password goes through the driver's DSN and mariadb-dump's option file.
	db1 := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 1, LogSlaveUpdates: true, RootPassword: `root\pw"1'x\n`})
	db2 := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 2, LogSlaveUpdates: true})
	db3 := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 3, NoLogBin: true})
	open := func(db *labtest.MariaDB, password string) *Manager {
		m, err := Open(db.Addr, "root", password)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	m1, m2, m3 := open(db1, db1.RootPassword), open(db2, db2.RootPassword), open(db3, db3.RootPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	want := func(i uint32, peer *labtest.MariaDB, peerName string) Desired {
		return Desired{
			Settings: &Settings{DomainID: i, AutoIncIncrement: 2, AutoIncOffset: i, BinlogFormat: "ROW"},
			User:     &User{Name: "repl", Password: trickyPassword},
			Sources:  []Source{{Name: peerName, Host: peer.IP, Port: uint32(peer.Port), User: "repl", Password: trickyPassword}},
		}
	}
	d1, d2 := want(1, db2, "node2"), want(2, db1, "node1")

	t.Run("MasterMaster", func(t *testing.T) {
		// Settings and accounts first on both, then the connections.
		for _, x := range []struct {
			m *Manager
			d Desired
		}{{m1, d1}, {m2, d2}, {m1, d1}, {m2, d2}} {
			changes, err := x.m.Configure(ctx, x.d)
			if err != nil {
				t.Fatalf("%s: Configure: %v\n%s", x.m.Addr(), err, changeList(changes))
			}
		}
		for _, x := range []struct {
			m    *Manager
			peer string
		}{{m1, "node2"}, {m2, "node1"}} {
			labtest.Eventually(t, 20*time.Second, x.m.Addr()+" replicating from "+x.peer, func() string {
				conns, err := x.m.Connections(ctx, x.peer)
				if err != nil {
					return err.Error()
				}
				if len(conns) != 1 || !conns[0].Running() {
					return describe(conns)
				}
				if conns[0].UsingGtid != "Slave_Pos" || conns[0].MasterUser != "repl" || conns[0].SecondsBehind == nil {
					return "connection " + describe(conns)
				}
				return ""
			})
		}
		f, err := m2.Facts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.ServerID != 2 || f.DomainID != 2 || f.AutoIncIncrement != 2 || f.AutoIncOffset != 2 || f.BinlogFormat != "ROW" ||
			!f.LogBin || !f.LogSlaveUpdates || !strings.HasPrefix(f.Version, "1") {
			t.Errorf("node2 facts %+v", f)
		}
	})

	t.Run("MarkersFlowBothWays", func(t *testing.T) {
		if _, err := m1.Markers(ctx, "from-1", nil, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := m2.Markers(ctx, "from-2", nil, ""); err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			m    *Manager
			want string
		}{{m1, "from-2"}, {m2, "from-1"}} {
			labtest.Eventually(t, 20*time.Second, x.want+" reaching "+x.m.Addr(), func() string {
				found, err := x.m.Markers(ctx, "", []string{x.want, "never-written"}, "")
				if err != nil {
					return err.Error()
				}
				if !slices.Equal(found, []string{x.want}) {
					return strings.Join(found, ",")
				}
				return ""
			})
		}
		// Each marker went out in its writer's GTID domain.
		f, err := m1.Facts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f.GtidBinlogPos, "0-") || !strings.Contains(f.GtidBinlogPos, "1-1-") {
			t.Errorf("node1 gtid_binlog_pos %q: want events in domain 1 only (and 2 from node2)", f.GtidBinlogPos)
		}
	})

	t.Run("RerunChangesNothing", func(t *testing.T) {
		// The stored hash matches nativeHash of the escaped password, and
		// the running connections are left alone.
		for _, x := range []struct {
			m *Manager
			d Desired
		}{{m1, d1}, {m2, d2}} {
			changes, err := x.m.Configure(ctx, x.d)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				if c.Changed {
					t.Errorf("%s: re-run changed %s: %s", x.m.Addr(), c.Action, c.Detail)
				}
			}
		}
		var server string
		if err := m1.db.QueryRowContext(ctx, "SELECT PASSWORD(?)", trickyPassword).Scan(&server); err != nil {
			t.Fatal(err)
		}
		if server != nativeHash(trickyPassword) {
			t.Errorf("PASSWORD() = %s, nativeHash = %s", server, nativeHash(trickyPassword))
		}
	})

	t.Run("ClassifiedErrors", func(t *testing.T) {
		bad := open(db1, "wrong")
		if _, err := bad.Ping(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refused the agent's admin credentials") {
			t.Errorf("wrong password: %v; want ErrUnavailable about the credentials", err)
		}
		if _, err := m3.Configure(ctx, d1); !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "log_bin is OFF") {
			t.Errorf("no binary log: %v; want ErrPrecondition", err)
		}
		// A connection to the master it already has under another name.
		dup := d2
		dup.Settings, dup.User = nil, nil
		dup.Sources = []Source{{Name: "other", Host: db1.IP, Port: uint32(db1.Port), User: "repl", Password: trickyPassword}}
		if _, err := m2.Configure(ctx, dup); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), `connection "node1" already replicates`) {
			t.Errorf("second connection to node1: %v; want ErrConflict", err)
		}
	})

	t.Run("SeedAnEmptyNode", func(t *testing.T) {
		db1.Exec(t, "CREATE DATABASE app")
		db1.Exec(t, "CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(20))")
		db1.Exec(t, "INSERT INTO app.items VALUES (1, 'one'), (2, 'two')")
		dbs, err := m1.UserDatabases(ctx)
		if err != nil || !slices.Equal(dbs, []string{"app"}) {
			t.Fatalf("UserDatabases = %q, %v; want app only", dbs, err)
		}
		var dump bytes.Buffer
		if err := m1.Dump(ctx, dbs, &dump); err != nil {
			t.Fatalf("Dump with root's password %q: %v", db1.RootPassword, err)
		}
		f1, err := m1.Facts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pos, n, err := m3.Load(ctx, bytes.NewReader(dump.Bytes()), false)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if pos != f1.GtidBinlogPos || n != int64(dump.Len()) {
			t.Errorf("Load = %q, %d bytes; want node1's position %q and %d bytes", pos, n, f1.GtidBinlogPos, dump.Len())
		}
		var rows int
		if err := db3.DB(t).QueryRow("SELECT COUNT(*) FROM app.items").Scan(&rows); err != nil || rows != 2 {
			t.Errorf("node3 has %d rows (%v), want 2", rows, err)
		}
		f3, err := m3.Facts(ctx)
		if err != nil || f3.GtidSlavePos != f1.GtidBinlogPos {
			t.Errorf("node3 gtid_slave_pos %q (%v), want %q", f3.GtidSlavePos, err, f1.GtidBinlogPos)
		}
		if _, _, err := m3.Load(ctx, bytes.NewReader(dump.Bytes()), false); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "(app)") {
			t.Errorf("second Load without force: %v; want ErrConflict naming app", err)
		}
	})

	t.Run("FailingLoadReturns", func(t *testing.T) {
		// The client stops at the first error; the rest of a large dump
		// must not block the agent.
		bad := "THIS IS NOT SQL;\n" + strings.Repeat("SELECT 1;\n", 300000)
		done := make(chan error, 1)
		go func() {
			_, _, err := m3.Load(ctx, strings.NewReader(bad), true)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "loading the dump into "+db3.Addr+" failed") || !strings.Contains(err.Error(), "ERROR 1064") {
				t.Errorf("Load of a broken dump = %v; want the client's error", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Load of a broken dump did not return within 30s")
		}
	})
}

// describe summarises connections for a failure message.
func describe(conns []Connection) string {
	var s []string
	for _, c := range conns {
		s = append(s, c.Name+": IO "+c.IORunning+" "+c.LastIOError+", SQL "+c.SQLRunning+" "+c.LastSQLError)
	}
	if len(s) == 0 {
		return "no connection"
	}
	return strings.Join(s, "; ")
}
