-- What operators watch (metrics at each scrape, the console): pending and
-- quarantined deliveries by system, read through partial indexes so that
-- the cost follows what waits, not every delivery ever made.
CREATE INDEX deliveries_pending ON deliveries (system, created_at) WHERE status = 'pending';
CREATE INDEX deliveries_quarantined ON deliveries (id) WHERE status = 'quarantined';

-- The deadline watch (src/watch): one row per (case, kind) of alert raised
-- (SIP invitation overdue, payment liability begun, SIP follow-up passed),
-- cleared when the condition ends; what was last published to the alerts
-- queue, so that every raise and clear is published once it is committed.
CREATE TABLE deadline_alerts (
    case_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    -- Unix seconds.
    due_at     BIGINT NOT NULL,
    -- JSON array of the responsible units' HSA-ids (no personal data).
    units      TEXT NOT NULL,
    raised_at  BIGINT NOT NULL,
    cleared_at BIGINT,
    -- '' (nothing yet), 'raised' or 'cleared': the state last published.
    published  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (case_id, kind)
);

-- How far a follower of the event log (the deadline watch) has read, by
-- the events table's row id.
CREATE TABLE cursors (
    name     TEXT PRIMARY KEY,
    position BIGINT NOT NULL
);
