-- The signaling node that holds a call's room, so that the calls of a node
-- that died (or of an earlier run of a single node) can be marked finished.
ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
