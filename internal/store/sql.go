package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrReference is returned when a write names a record that does not exist,
// or removes one that others still refer to.
var ErrReference = errors.New("referenced record missing or still in use")

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SQL implements Store on SQLite or PostgreSQL.
type SQL struct {
	db      *sql.DB
	q       querier
	dialect string
	// queries caches each query rewritten for the dialect.
	queries *queryCache
	stmts   *stmtCache
}

// Open connects to the database. For SQLite, dsn is a file path.
func Open(ctx context.Context, dialect, dsn string, maxConns int) (*SQL, error) {
	var db *sql.DB
	var err error
	switch dialect {
	case SQLite:
		// WAL lets readers run beside the writer; immediate transactions take
		// the write lock up front so two writers queue instead of deadlocking.
		db, err = sql.Open("sqlite", "file:"+dsn+
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"+
			"&_pragma=synchronous(NORMAL)&_txlock=immediate")
	case Postgres:
		db, err = sql.Open("pgx", dsn)
	default:
		return nil, fmt.Errorf("unknown database driver %q", dialect)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if maxConns > 0 {
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
	}
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	return &SQL{db: db, q: db, dialect: dialect, queries: newQueryCache(), stmts: &stmtCache{m: map[string]*sql.Stmt{}}}, nil
}

// Dialect is "sqlite" or "postgres".
func (s *SQL) Dialect() string { return s.dialect }

// Close closes the connection pool.
func (s *SQL) Close() error {
	s.stmts.close()
	return s.db.Close()
}

// Ping checks the database answers.
func (s *SQL) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// InTx runs fn in a transaction.
func (s *SQL) InTx(ctx context.Context, fn func(Store) error) error {
	if _, ok := s.q.(*sql.Tx); ok {
		return fn(s) // already in one
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	inner := &SQL{db: s.db, q: tx, dialect: s.dialect, queries: s.queries, stmts: s.stmts}
	if err := fn(inner); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	return nil
}

// Migrate applies every migration not yet applied, in order, each in its own
// transaction, and reports each one through log.
func (s *SQL) Migrate(ctx context.Context, log *slog.Logger) (applied int, err error) {
	if s.dialect == Postgres {
		// One node migrates at a time; the others wait, then find nothing to do.
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("migrate: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7716020)"); err != nil {
			return 0, fmt.Errorf("migrate: take lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7716020)")
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)`); err != nil {
		return 0, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return 0, err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if err != nil {
			return applied, fmt.Errorf("migration %s: name must start with a number", base)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, s.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), version).Scan(&n); err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return applied, err
		}
		log.Info("applying migration", "migration", base)
		err = s.InTx(ctx, func(st Store) error {
			tx := st.(*SQL)
			for _, stmt := range splitStatements(string(body)) {
				if _, err := tx.q.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w\nin statement:\n%s", err, stmt)
				}
			}
			_, err := tx.exec(ctx, "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)", version, base, Now())
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		applied++
	}
	return applied, nil
}

// splitStatements cuts a migration into statements at semicolons that end a
// line, dropping comment lines.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func (s *SQL) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	var err error
	if st := s.stmt(ctx, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = s.q.ExecContext(ctx, s.rebind(query), args...)
	}
	return res, mapErr(err)
}

func (s *SQL) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	var rows *sql.Rows
	var err error
	if st := s.stmt(ctx, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.q.QueryContext(ctx, s.rebind(query), args...)
	}
	return rows, mapErr(err)
}

// queryStrings runs a query of one text column and returns its values.
func (s *SQL) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

func (s *SQL) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.q.QueryRowContext(ctx, s.rebind(query), args...)
}

// stmt returns the prepared statement of query, prepared once and kept so
// that hot queries are not parsed again on every call (bound to the
// transaction inside one), or nil to run the query unprepared (when the
// cache is full or preparing failed: the unprepared run reports the error).
func (s *SQL) stmt(ctx context.Context, query string) *sql.Stmt {
	st := s.stmts.get(ctx, s.db, s.rebind(query))
	if st == nil {
		return nil
	}
	if tx, ok := s.q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st)
	}
	return st
}

// stmtCache keeps prepared statements by query text.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// maxStmts bounds the cache; queries beyond it run unprepared.
const maxStmts = 512

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// execOne runs a write that must touch exactly one row.
func (s *SQL) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// rebind rewrites ? placeholders as $1, $2 ... for PostgreSQL.
func (s *SQL) rebind(query string) string {
	if s.dialect != Postgres {
		return query
	}
	return s.queries.get(query, func() string {
		var b strings.Builder
		n := 0
		for i := 0; i < len(query); i++ {
			if query[i] == '?' {
				n++
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
				continue
			}
			b.WriteByte(query[i])
		}
		return b.String()
	})
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// inList returns " AND col IN (?, ...)" and its arguments, or "" when ids is nil.
func inList(col string, ids []string) (string, []any) {
	if ids == nil {
		return "", nil
	}
	if len(ids) == 0 {
		return " AND 1 = 0", nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return " AND " + col + " IN (" + placeholders(len(ids)) + ")", args
}

// limitClause is " LIMIT ? OFFSET ?" with its two arguments.
func limitClause(p Page) (string, []any) {
	limit := p.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	offset := p.Offset
	if offset < 0 {
		offset = 0
	}
	return " LIMIT ? OFFSET ?", []any{limit, offset}
}

// conflictFields maps unique constraints (PostgreSQL names and SQLite
// messages) to the API field they protect.
var conflictFields = map[string]string{
	"domains_name_key":                "domain",
	"domains.name":                    "domain",
	"users_username_key":              "username",
	"users.domain_id, users.username": "username",
	"users_alias_key":                 "alias",
	"users.domain_id, users.alias":    "alias",
	"credentials_basic_key":           "user",
	"credentials.user_id":             "user",
	"settings_pkey":                   "key",
	"settings.key":                    "key",
	"permissions_pkey":                "name",
	"permissions.scope, permissions.target_id, permissions.name": "name",
	"user_groups_name_key":                           "name",
	"user_groups.domain_id, user_groups.name":        "name",
	"idp_providers_name_key":                         "name",
	"idp_providers.name":                             "name",
	"sip_mappings_username_key":                      "credential.username",
	"sip_mappings.username":                          "credential.username",
	"sip_mappings_owner_key":                         "ownerUri",
	"sip_mappings.owner_type, sip_mappings.owner_id": "ownerUri",
	"meetings_pin_key":                               "pin",
	"meetings.pin":                                   "pin",
}

// mapErr turns driver errors into the store's errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505":
			return &ConflictError{Field: fieldOf(pg.ConstraintName)}
		case "23503":
			return fmt.Errorf("%w: %s", ErrReference, pg.ConstraintName)
		}
		return err
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			msg := lite.Error()
			cols := msg[strings.LastIndex(msg, "constraint failed: ")+len("constraint failed: "):]
			cols, _, _ = strings.Cut(cols, " (")
			return &ConflictError{Field: fieldOf(strings.TrimSpace(cols))}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return ErrReference
		}
	}
	return err
}

func fieldOf(constraint string) string {
	if f, ok := conflictFields[constraint]; ok {
		return f
	}
	return "id"
}

func marshalJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values the store itself builds reach here.
		panic(fmt.Sprintf("store: marshal %T: %v", v, err))
	}
	return string(b)
}

func unmarshalJSON(s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decode stored JSON: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strs returns a non-nil list, so that stored JSON is [] rather than null.
func strs(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

type queryCache struct{ m sync.Map }

func newQueryCache() *queryCache { return &queryCache{} }

func (c *queryCache) get(q string, build func() string) string {
	if v, ok := c.m.Load(q); ok {
		return v.(string)
	}
	v := build()
	c.m.Store(q, v)
	return v
}
