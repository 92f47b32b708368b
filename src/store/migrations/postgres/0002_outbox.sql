-- The outbox (see the SQLite migration of the same number).
CREATE TABLE deliveries (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL UNIQUE,
    case_id      TEXT NOT NULL REFERENCES cases (case_id),
    sequence     BIGINT NOT NULL,
    recipient    TEXT NOT NULL,
    system       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX deliveries_by_recipient ON deliveries (recipient, status, id);
CREATE INDEX deliveries_by_case ON deliveries (case_id, id);
