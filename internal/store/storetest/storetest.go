// Package storetest opens real stores for tests: a fresh SQLite file, and a
// fresh PostgreSQL schema when WAC_TEST_POSTGRES names a server.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/store"
)

// PostgresEnv names the variable holding the test PostgreSQL server's URL,
// for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "WAC_TEST_POSTGRES"

// Dialects returns the dialects to run a suite against: SQLite always, and
// PostgreSQL when PostgresEnv is set.
func Dialects() []string {
	if os.Getenv(PostgresEnv) != "" {
		return []string{store.SQLite, store.Postgres}
	}
	return []string{store.SQLite}
}

// Open returns a migrated, empty store of the dialect, removed when t ends,
// and the DSN it was opened with.
func Open(t testing.TB, dialect string) (*store.SQL, string) {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch dialect {
	case store.SQLite:
		dsn = filepath.Join(t.TempDir(), "wac.db")
	case store.Postgres:
		dsn = PostgresSchema(t)
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	st, err := store.Open(ctx, dialect, dsn, 8)
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, logging.Discard()); err != nil {
		t.Fatalf("migrate %s store: %v", dialect, err)
	}
	return st, dsn
}

// PostgresSchema creates a schema of its own on the test server and returns
// a DSN whose search_path points at it. The schema is dropped when t ends.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Fatalf("%s is not set", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	schema := "t_" + store.NewID()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema on %s: %v", base, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Name is a subtest name for a dialect.
func Name(dialect string) string { return fmt.Sprintf("db=%s", dialect) }
