package store

import (
	"context"
	"database/sql"
)

// Job statuses.
const (
	JobQueued  = "queued"  // waits for its due time
	JobRunning = "running" // a node holds it until its lease ends
	JobFailed  = "failed"  // gave up after its attempts
)

// Job is a unit of background work that survives a restart: a mail to
// send, a reminder. A node claims a due job with a lease; when the node
// dies the lease runs out and another node claims it.
type Job struct {
	ID         string
	Kind       string
	Key        string // groups jobs to cancel together (a meeting's reminder)
	Due        int64  // unix ms
	Payload    string // JSON
	Attempts   int
	Status     string
	LockedBy   string
	LeaseUntil int64
	LastError  string
	Created    int64
	Updated    int64
}

// Jobs stores the durable jobs.
type Jobs interface {
	EnqueueJob(ctx context.Context, j *Job) error
	// CancelJobs removes the queued jobs of a key (running ones finish).
	CancelJobs(ctx context.Context, key string) (int, error)
	// DueJobs lists up to limit jobs that may be claimed at now: queued
	// and due, or running with a lease that ran out.
	DueJobs(ctx context.Context, now int64, limit int) ([]*Job, error)
	// ClaimJob takes a job for node until leaseUntil, counting an attempt;
	// false when another node took it first.
	ClaimJob(ctx context.Context, id, node string, now, leaseUntil int64) (bool, error)
	// FinishJob removes a job node holds, once done.
	FinishJob(ctx context.Context, id, node string) error
	// ReleaseJob gives back a job node holds: queued again for due, or
	// failed; with the error of the attempt.
	ReleaseJob(ctx context.Context, id, node, status string, due int64, lastError string) error
	GetJob(ctx context.Context, id string) (*Job, error)
	// NextJobDue is the due time of the earliest queued job (0 = none).
	NextJobDue(ctx context.Context) (int64, error)
	// CountJobs counts jobs by status.
	CountJobs(ctx context.Context) (map[string]int, error)
	// PurgeJobs removes failed jobs last changed before a time.
	PurgeJobs(ctx context.Context, before int64) (int, error)
}

const jobCols = `id, kind, job_key, due, payload, attempts, status, locked_by, lease_until, last_error, created, updated`

func scanJob(row interface{ Scan(...any) error }) (*Job, error) {
	var j Job
	if err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Due, &j.Payload, &j.Attempts, &j.Status, &j.LockedBy, &j.LeaseUntil,
		&j.LastError, &j.Created, &j.Updated); err != nil {
		return nil, mapErr(err)
	}
	return &j, nil
}

// EnqueueJob implements Jobs.
func (s *SQL) EnqueueJob(ctx context.Context, j *Job) error {
	if j.ID == "" {
		j.ID = NewID()
	}
	now := Now()
	if j.Created == 0 {
		j.Created = now
	}
	j.Updated, j.Status = now, JobQueued
	_, err := s.exec(ctx, `INSERT INTO jobs (`+jobCols+`) VALUES (?, ?, ?, ?, ?, 0, ?, '', 0, '', ?, ?)`,
		j.ID, j.Kind, j.Key, j.Due, j.Payload, j.Status, j.Created, j.Updated)
	return err
}

// CancelJobs implements Jobs.
func (s *SQL) CancelJobs(ctx context.Context, key string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM jobs WHERE job_key = ? AND status = ?`, key, JobQueued)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// DueJobs implements Jobs.
func (s *SQL) DueJobs(ctx context.Context, now int64, limit int) ([]*Job, error) {
	rows, err := s.query(ctx, `SELECT `+jobCols+` FROM jobs
		WHERE (status = ? AND due <= ?) OR (status = ? AND lease_until < ?) ORDER BY due, id LIMIT ?`,
		JobQueued, now, JobRunning, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, mapErr(rows.Err())
}

// ClaimJob implements Jobs: one conditional update, so that of two nodes
// claiming a job at once exactly one changes the row.
func (s *SQL) ClaimJob(ctx context.Context, id, node string, now, leaseUntil int64) (bool, error) {
	res, err := s.exec(ctx, `UPDATE jobs SET status = ?, locked_by = ?, lease_until = ?, attempts = attempts + 1, updated = ?
		WHERE id = ? AND ((status = ? AND due <= ?) OR (status = ? AND lease_until < ?))`,
		JobRunning, node, leaseUntil, now, id, JobQueued, now, JobRunning, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishJob implements Jobs.
func (s *SQL) FinishJob(ctx context.Context, id, node string) error {
	return s.execOne(ctx, `DELETE FROM jobs WHERE id = ? AND locked_by = ? AND status = ?`, id, node, JobRunning)
}

// ReleaseJob implements Jobs.
func (s *SQL) ReleaseJob(ctx context.Context, id, node, status string, due int64, lastError string) error {
	return s.execOne(ctx, `UPDATE jobs SET status = ?, due = ?, locked_by = '', lease_until = 0, last_error = ?, updated = ?
		WHERE id = ? AND locked_by = ? AND status = ?`, status, due, lastError, Now(), id, node, JobRunning)
}

// GetJob implements Jobs.
func (s *SQL) GetJob(ctx context.Context, id string) (*Job, error) {
	return scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
}

// NextJobDue implements Jobs.
func (s *SQL) NextJobDue(ctx context.Context) (int64, error) {
	var due sql.NullInt64
	err := s.queryRow(ctx, `SELECT MIN(due) FROM jobs WHERE status = ?`, JobQueued).Scan(&due)
	return due.Int64, mapErr(err)
}

// CountJobs implements Jobs.
func (s *SQL) CountJobs(ctx context.Context) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT status, COUNT(*) FROM jobs GROUP BY status`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, mapErr(err)
		}
		out[st] = n
	}
	return out, mapErr(rows.Err())
}

// PurgeJobs implements Jobs.
func (s *SQL) PurgeJobs(ctx context.Context, before int64) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM jobs WHERE status = ? AND updated < ?`, JobFailed, before)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
