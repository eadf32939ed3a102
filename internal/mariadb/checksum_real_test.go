package mariadb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labfleet/labfleet/internal/labtest"
)

// TestChecksum_RealServer checksums a real server's tables, with and
// without primary keys, as a user who may not read one of them and while
// another session holds a write lock on one.
func TestChecksum_RealServer(t *testing.T) {
	db := labtest.StartMariaDB(t, labtest.MariaDBOptions{ServerID: 1, FieldState: true})
	db.Exec(t, "CREATE DATABASE app")
	db.Exec(t, "CREATE TABLE app.items (id INT PRIMARY KEY, name VARCHAR(16))")
	db.Exec(t, "CREATE TABLE app.log (line VARCHAR(16))") // no primary key
	db.Exec(t, "INSERT INTO app.items VALUES (1, 'a'), (2, 'b')")
	db.Exec(t, "INSERT INTO app.log VALUES ('x'), ('y'), ('z')")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func(user, pw string) *Manager {
		m, err := Open(db.Addr, user, pw)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	root := open("root", db.RootPassword)

	sums, err := root.Checksum(ctx, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums.Tables) != 2 || sums.Before == "" || sums.Before != sums.After {
		t.Fatalf("Checksum = %+v", sums)
	}
	items, log := sums.Tables[0], sums.Tables[1]
	if items.Name() != "app.items" || items.Rows != 2 || !items.HasPrimaryKey || items.Checksum == 0 || items.Err != "" {
		t.Errorf("app.items: %+v", items)
	}
	if log.Name() != "app.log" || log.Rows != 3 || log.HasPrimaryKey || log.Checksum == 0 || log.Err != "" {
		t.Errorf("app.log (no primary key): %+v", log)
	}
	// The same data gives the same checksum; one changed value does not.
	again, err := root.Checksum(ctx, []string{"app"}, time.Second)
	if err != nil || again.Tables[0].Checksum != items.Checksum {
		t.Fatalf("second checksum %+v, %v", again, err)
	}
	db.Exec(t, "UPDATE app.items SET name = 'B' WHERE id = 2")
	changed, err := root.Checksum(ctx, []string{"app"}, time.Second)
	if err != nil || changed.Tables[0].Checksum == items.Checksum {
		t.Fatalf("a changed row left the checksum at %d (%v)", changed.Tables[0].Checksum, err)
	}
	if changed.Before == sums.Before {
		t.Errorf("gtid_binlog_pos did not move after an UPDATE: %q", changed.Before)
	}

	t.Run("locked table", func(t *testing.T) {
		conn, err := db.DB(t).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "LOCK TABLES app.log WRITE"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "UNLOCK TABLES")
		s, err := root.Checksum(ctx, []string{"app"}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if s.Tables[0].Err != "" || !strings.Contains(s.Tables[1].Err, "locked by another session for longer than 1s") {
			t.Errorf("with app.log locked: %+v", s.Tables)
		}
	})

	t.Run("missing privilege", func(t *testing.T) {
		// The user sees app.items (it may insert) but may not read it.
		db.Exec(t, "CREATE USER 'narrow'@'%' IDENTIFIED BY 'narrow-pw'")
		db.Exec(t, "GRANT SELECT ON app.log TO 'narrow'@'%'")
		db.Exec(t, "GRANT INSERT ON app.items TO 'narrow'@'%'")
		s, err := open("narrow", "narrow-pw").Checksum(ctx, []string{"app"}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Tables) != 2 || !strings.Contains(s.Tables[0].Err, "CHECKSUM TABLE needs SELECT") || s.Tables[1].Err != "" {
			t.Errorf("as a user without SELECT on app.items: %+v", s.Tables)
		}
	})
}
