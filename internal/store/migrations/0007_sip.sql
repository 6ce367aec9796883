-- SIP mappings (the seeds' sipMappings): the SIP identity of a user or a
-- group towards the trunk. The username is the number (or user part) the
-- trunk knows the owner by; one trunk serves every tenant of a node, so a
-- username maps to one owner across the whole installation. The password
-- (for a PBX that asks for digest authentication) is sealed with the node's
-- key, never stored in the clear.
CREATE TABLE sip_mappings (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    owner_type  TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    username    TEXT NOT NULL,
    password    TEXT NOT NULL DEFAULT '',
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
CREATE UNIQUE INDEX sip_mappings_username_key ON sip_mappings (username);
CREATE UNIQUE INDEX sip_mappings_owner_key ON sip_mappings (owner_type, owner_id);
CREATE INDEX sip_mappings_domain_idx ON sip_mappings (domain_id, created);
