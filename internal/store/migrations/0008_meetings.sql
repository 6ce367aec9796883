-- Meetings (the seeds' meetings service): one row per scheduled meeting,
-- its participants in detail, and the users among them for listings.
CREATE TABLE meetings (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    name        TEXT NOT NULL,
    valid_since BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    pin         TEXT NOT NULL DEFAULT '',
    sequence    BIGINT NOT NULL DEFAULT 0,
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE INDEX meetings_domain_idx ON meetings (domain_id, valid_since);
CREATE INDEX meetings_owner_idx ON meetings (owner_id, valid_since);
CREATE UNIQUE INDEX meetings_pin_key ON meetings (pin) WHERE pin <> '';

CREATE TABLE meeting_users (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    PRIMARY KEY (meeting_id, user_id)
);
CREATE INDEX meeting_users_user_idx ON meeting_users (user_id);

-- Durable jobs (mails, reminders): a node claims a due job with a lease;
-- a job whose node died is claimed again once its lease ran out.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    job_key     TEXT NOT NULL DEFAULT '',
    due         BIGINT NOT NULL,
    payload     TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    locked_by   TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
CREATE INDEX jobs_due_idx ON jobs (status, due);
CREATE INDEX jobs_key_idx ON jobs (job_key);
