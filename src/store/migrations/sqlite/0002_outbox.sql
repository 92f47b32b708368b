-- The outbox: one row per recipient of each stored event, written in the
-- event's transaction, read in id order (which keeps each case's order).
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- UUIDv5 of the event and the recipient: the same on every retry, so
    -- receivers can deduplicate.
    message_id  TEXT NOT NULL UNIQUE,
    case_id     TEXT NOT NULL REFERENCES cases (case_id),
    sequence    INTEGER NOT NULL,
    recipient   TEXT NOT NULL,
    -- lifecare, cosmic-link, samsa, native; empty when unknown.
    system      TEXT NOT NULL,
    -- 'event' (the event, rendered for the recipient) or 'notice' (a
    -- message from samgate itself, in reason).
    kind        TEXT NOT NULL,
    -- 'pending', 'delivered' or 'quarantined'.
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX deliveries_by_recipient ON deliveries (recipient, status, id);
CREATE INDEX deliveries_by_case ON deliveries (case_id, id);
