-- Identity and access: domains, users, credentials, OAuth2 tokens and clients,
-- permissions, alarms and stats, and server-wide settings.
-- Portable SQL: it runs unchanged on SQLite and PostgreSQL. Times are unix
-- milliseconds; lists and objects are JSON text.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE domains (
    id                     TEXT PRIMARY KEY,
    parent_id              TEXT REFERENCES domains (id),
    name                   TEXT NOT NULL,
    origins                TEXT NOT NULL DEFAULT '[]',
    enable_anonymous       BOOLEAN NOT NULL DEFAULT FALSE,
    anonymous_expiration   BIGINT NOT NULL DEFAULT 0,
    anonymous_capabilities TEXT NOT NULL DEFAULT '[]',
    services               TEXT NOT NULL DEFAULT '{}',
    created                BIGINT NOT NULL,
    updated                BIGINT NOT NULL
);
CREATE UNIQUE INDEX domains_name_key ON domains (name);
CREATE INDEX domains_parent_idx ON domains (parent_id);

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    domain_id        TEXT NOT NULL REFERENCES domains (id),
    username         TEXT NOT NULL,
    email            TEXT NOT NULL DEFAULT '',
    role             TEXT NOT NULL,
    capabilities     TEXT NOT NULL DEFAULT '[]',
    mobile_phone     TEXT NOT NULL DEFAULT '[]',
    land_line_number TEXT NOT NULL DEFAULT '',
    alias            TEXT NOT NULL DEFAULT '',
    created          BIGINT NOT NULL,
    last_login       BIGINT NOT NULL DEFAULT 0,
    expires          BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_username_key ON users (domain_id, username);
CREATE UNIQUE INDEX users_alias_key ON users (domain_id, alias) WHERE alias <> '';
CREATE INDEX users_expires_idx ON users (expires) WHERE expires <> 0;

CREATE TABLE credentials (
    id        TEXT PRIMARY KEY,
    source    TEXT NOT NULL,
    type      TEXT NOT NULL,
    context   TEXT NOT NULL DEFAULT '{}',
    domain_id TEXT NOT NULL REFERENCES domains (id),
    user_id   TEXT REFERENCES users (id) ON DELETE CASCADE,
    data      TEXT NOT NULL DEFAULT '{}',
    lease     BIGINT NOT NULL DEFAULT 0,
    holder_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created   BIGINT NOT NULL,
    updated   BIGINT NOT NULL
);
CREATE UNIQUE INDEX credentials_basic_key ON credentials (user_id) WHERE type = 'basic';
CREATE INDEX credentials_user_idx ON credentials (user_id);
CREATE INDEX credentials_pool_idx ON credentials (domain_id, type) WHERE user_id IS NULL;
CREATE INDEX credentials_holder_idx ON credentials (holder_id);

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    role        TEXT NOT NULL,
    created     BIGINT NOT NULL
);

CREATE TABLE tokens (
    hash      TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    grant_id  TEXT NOT NULL,
    user_id   TEXT REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT REFERENCES clients (id) ON DELETE CASCADE,
    expires   BIGINT NOT NULL,
    created   BIGINT NOT NULL
);
CREATE INDEX tokens_grant_idx ON tokens (grant_id);
CREATE INDEX tokens_user_idx ON tokens (user_id);
CREATE INDEX tokens_expires_idx ON tokens (expires);

CREATE TABLE permissions (
    scope     TEXT NOT NULL,
    target_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    enabled   BOOLEAN NOT NULL,
    updated   BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id, name)
);

CREATE TABLE alarms (
    id        TEXT PRIMARY KEY,
    type      TEXT NOT NULL,
    domain_id TEXT NOT NULL DEFAULT '',
    user_id   TEXT NOT NULL DEFAULT '',
    message   TEXT NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}',
    created   BIGINT NOT NULL
);
CREATE INDEX alarms_domain_idx ON alarms (domain_id, created);

CREATE TABLE stats (
    id        TEXT PRIMARY KEY,
    service   TEXT NOT NULL,
    type      TEXT NOT NULL,
    domain_id TEXT NOT NULL DEFAULT '',
    user_id   TEXT NOT NULL DEFAULT '',
    data      TEXT NOT NULL DEFAULT '{}',
    created   BIGINT NOT NULL
);
CREATE INDEX stats_domain_idx ON stats (domain_id, created);
