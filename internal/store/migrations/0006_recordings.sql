-- Recordings of rooms: one row per recording (its segments, tracks and
-- events are in detail), the users who may see it, and each domain's
-- retention.
CREATE TABLE recordings (
    id        TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL,
    room      TEXT NOT NULL,
    node      TEXT NOT NULL DEFAULT '',
    started   BIGINT NOT NULL,
    stopped   BIGINT NOT NULL DEFAULT 0,
    alive     BIGINT NOT NULL DEFAULT 0,
    status    TEXT NOT NULL,
    size      BIGINT NOT NULL DEFAULT 0,
    detail    TEXT NOT NULL
);
CREATE INDEX recordings_domain_idx ON recordings (domain_id, started);
CREATE INDEX recordings_room_idx ON recordings (room, started);
CREATE INDEX recordings_status_idx ON recordings (status, alive);

CREATE TABLE recording_users (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    domain_id    TEXT NOT NULL,
    PRIMARY KEY (recording_id, user_id)
);
CREATE INDEX recording_users_user_idx ON recording_users (user_id);

-- Days a domain keeps its recordings; 0 = recording.retentionDays.
ALTER TABLE domains ADD COLUMN recording_retention_days BIGINT NOT NULL DEFAULT 0;
