-- Single sign-on (issue 24): OpenWAC as an OpenID Connect provider, and
-- logins through external identity providers.

-- Registered clients carry what the authorization-code flow needs. Clients
-- registered before keep the client_credentials grant they had.
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT '["client_credentials"]';
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN public BOOLEAN NOT NULL DEFAULT FALSE;

-- Authorization codes, by the SHA-256 of their value. A code is exchanged
-- once: grant_id is set when it is, and a second exchange revokes that grant.
CREATE TABLE auth_codes (
    hash           TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL DEFAULT '',
    nonce          TEXT NOT NULL DEFAULT '',
    challenge      TEXT NOT NULL DEFAULT '',
    challenge_method TEXT NOT NULL DEFAULT '',
    sid            TEXT NOT NULL DEFAULT '',
    auth_time      BIGINT NOT NULL,
    grant_id       TEXT NOT NULL DEFAULT '',
    expires        BIGINT NOT NULL,
    created        BIGINT NOT NULL
);
CREATE INDEX auth_codes_expires_idx ON auth_codes (expires);

-- Keys that sign id_tokens, shared by every node; the private key is sealed
-- with a key derived from the cluster secret. A key signs from not_before
-- (published before, so that every node's JWKS has it first) and is
-- published until expires.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    alg        TEXT NOT NULL,
    private    TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    expires    BIGINT NOT NULL,
    created    BIGINT NOT NULL
);

-- Browser sessions of the provider's login page (cookie wac_sso, stored by
-- its SHA-256), and the grants issued under each, which end_session revokes.
CREATE TABLE sso_sessions (
    hash      TEXT PRIMARY KEY,
    sid       TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time BIGINT NOT NULL,
    expires   BIGINT NOT NULL
);
CREATE UNIQUE INDEX sso_sessions_sid_key ON sso_sessions (sid);
CREATE TABLE sso_grants (
    sid      TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    expires  BIGINT NOT NULL,
    PRIMARY KEY (sid, grant_id)
);

-- Consent a user gave a client, for the scopes listed.
CREATE TABLE oauth_consents (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes    TEXT NOT NULL DEFAULT '[]',
    created   BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- External identity providers a domain's admins registered through /sapi
-- (those of the configuration's providers directory stay in memory). The
-- client secret is sealed.
CREATE TABLE idp_providers (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    name        TEXT NOT NULL,
    config      TEXT NOT NULL DEFAULT '{}',
    secret      TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
CREATE UNIQUE INDEX idp_providers_name_key ON idp_providers (name);

-- Which user an external identity (issuer and subject) is.
CREATE TABLE idp_links (
    issuer   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    created  BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX idp_links_user_idx ON idp_links (user_id);
