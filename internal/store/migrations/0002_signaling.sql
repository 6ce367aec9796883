-- Signaling: call records (one per room, with its participants, invitations
-- and transfers) and hunt groups (usersGroup).

CREATE TABLE calls (
    id       TEXT PRIMARY KEY,
    room     TEXT NOT NULL,
    owner_id TEXT NOT NULL DEFAULT '',
    created  BIGINT NOT NULL,
    finished BIGINT NOT NULL DEFAULT 0,
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX calls_created_idx ON calls (created);
CREATE INDEX calls_finished_idx ON calls (finished);

CREATE TABLE call_users (
    call_id   TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    PRIMARY KEY (call_id, user_id)
);
CREATE INDEX call_users_user_idx ON call_users (user_id);
CREATE INDEX call_users_domain_idx ON call_users (domain_id);

CREATE TABLE user_groups (
    id        TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES domains (id),
    name      TEXT NOT NULL,
    owner_id  TEXT REFERENCES users (id) ON DELETE SET NULL,
    created   BIGINT NOT NULL,
    updated   BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_groups_name_key ON user_groups (domain_id, name);

CREATE TABLE user_group_members (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added    BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX user_group_members_user_idx ON user_group_members (user_id);
