-- The store on PostgreSQL: the same tables as SQLite's, in PostgreSQL types.

CREATE TABLE cases (
    case_id     TEXT PRIMARY KEY,
    process     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    -- For the one-open-outpatient-case rule and case linking; never logged.
    patient_id  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    body        BYTEA NOT NULL
);
CREATE INDEX cases_by_patient ON cases (patient_id, process, status);

CREATE TABLE case_refs (
    source_system INTEGER NOT NULL,
    case_ref      TEXT NOT NULL,
    case_id       TEXT NOT NULL REFERENCES cases (case_id),
    PRIMARY KEY (source_system, case_ref)
);
CREATE INDEX case_refs_by_ref ON case_refs (case_ref);

CREATE TABLE participants (
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    hsa_id  TEXT NOT NULL,
    PRIMARY KEY (case_id, hsa_id)
);
CREATE INDEX participants_by_hsa ON participants (hsa_id);

CREATE TABLE events (
    id                BIGSERIAL PRIMARY KEY,
    case_id           TEXT NOT NULL REFERENCES cases (case_id),
    sequence          BIGINT NOT NULL,
    source_system     INTEGER NOT NULL,
    source_message_id TEXT NOT NULL,
    payload_type      TEXT NOT NULL,
    occurred_at       BIGINT NOT NULL,
    received_at       BIGINT NOT NULL,
    body              BYTEA NOT NULL,
    UNIQUE (source_system, source_message_id),
    UNIQUE (case_id, sequence)
);

CREATE FUNCTION samgate_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION samgate_events_append_only();
