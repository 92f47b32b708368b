-- The embedded store: cases, their events, and each system's case refs.

-- The case projection: the fold of the case's events, as protobuf.
CREATE TABLE cases (
    case_id     TEXT PRIMARY KEY,
    process     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    -- For the one-open-outpatient-case rule and case linking; never logged.
    patient_id  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX cases_by_patient ON cases (patient_id, process, status);

-- Each system's own id for a case, mapped to the gateway's case id.
CREATE TABLE case_refs (
    source_system INTEGER NOT NULL,
    case_ref      TEXT NOT NULL,
    case_id       TEXT NOT NULL REFERENCES cases (case_id),
    PRIMARY KEY (source_system, case_ref)
);
CREATE INDEX case_refs_by_ref ON case_refs (case_ref);

-- Who takes part in which case, for listing by participant.
CREATE TABLE participants (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    hsa_id  TEXT NOT NULL,
    PRIMARY KEY (case_id, hsa_id)
);
CREATE INDEX participants_by_hsa ON participants (hsa_id);

-- Every accepted event, append-only. (source_system, source_message_id) is
-- the idempotency key.
CREATE TABLE events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id           TEXT NOT NULL REFERENCES cases (case_id),
    sequence          INTEGER NOT NULL,
    source_system     INTEGER NOT NULL,
    source_message_id TEXT NOT NULL,
    payload_type      TEXT NOT NULL,
    occurred_at       INTEGER NOT NULL,
    received_at       INTEGER NOT NULL,
    body              BLOB NOT NULL,
    UNIQUE (source_system, source_message_id),
    UNIQUE (case_id, sequence)
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
