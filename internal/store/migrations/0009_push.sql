-- Push tokens: the device tokens apps register so that a phone whose
-- signaling socket is closed can be woken (APNs, APNs VoIP, FCM). One row
-- per token; a token belongs to one user at a time, and a device keeps one
-- token per type.
CREATE TABLE push_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    domain_id  TEXT NOT NULL,
    token_type TEXT NOT NULL,
    token      TEXT NOT NULL,
    device_id  TEXT NOT NULL DEFAULT '',
    created    BIGINT NOT NULL,
    updated    BIGINT NOT NULL
);
CREATE UNIQUE INDEX push_tokens_token_idx ON push_tokens (token_type, token);
CREATE INDEX push_tokens_user_idx ON push_tokens (user_id, created);
CREATE INDEX push_tokens_domain_idx ON push_tokens (domain_id, created);
