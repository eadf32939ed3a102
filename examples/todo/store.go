package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Item is one to-do.
type Item struct {
	ID      int64     `json:"id"`
	Title   string    `json:"title"`
	Created time.Time `json:"created"`
}

type store struct{ db *sql.DB }

// openStore connects lazily; the schema is created on first use, so the
// app starts even while the database is still coming up (and /healthz says so).
func openStore(host, port, user, password, name string) (*store, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.DBName = "tcp", host+":"+port, user, password, name
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 5*time.Second, 5*time.Second
	cfg.ParseTime = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("database settings: %w", err)
	}
	db.SetMaxOpenConns(8)
	db.SetConnMaxLifetime(time.Minute)
	return &store{db: db}, nil
}

func (s *store) Close() error { return s.db.Close() }

const schema = `CREATE TABLE IF NOT EXISTS items (
	id BIGINT AUTO_INCREMENT PRIMARY KEY,
	title VARCHAR(200) NOT NULL,
	created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB`

func (s *store) ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, schema)
	return err
}

func (s *store) add(ctx context.Context, title string) (Item, error) {
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return Item{}, err
	}
	res, err := s.db.ExecContext(ctx, "INSERT INTO items (title) VALUES (?)", title)
	if err != nil {
		return Item{}, err
	}
	id, _ := res.LastInsertId()
	return Item{ID: id, Title: title, Created: time.Now()}, nil
}

func (s *store) list(ctx context.Context) ([]Item, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, title, created FROM items ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ID, &it.Title, &it.Created); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}
