-- Refresh tokens already exchanged for new ones, so that a second use (a
-- stolen copy) is told from an unknown token and revokes the whole grant.
-- A row is kept until the token it names would have expired.
CREATE TABLE used_refresh_tokens (
    hash      TEXT PRIMARY KEY,
    grant_id  TEXT NOT NULL,
    user_id   TEXT REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT REFERENCES clients (id) ON DELETE CASCADE,
    expires   BIGINT NOT NULL
);
CREATE INDEX used_refresh_tokens_grant_idx ON used_refresh_tokens (grant_id);
CREATE INDEX used_refresh_tokens_expires_idx ON used_refresh_tokens (expires);

-- The periodic cleanup keeps the newest login.maxFailedLoginRows
-- 'Failed login' stats and removes the older ones.
CREATE INDEX stats_type_idx ON stats (service, type, created);
