-- The journal systems' HL7 v2 feed (hl7v2.md): the messages taken, the
-- hospital stays, the journal's side of the person register, and the
-- durable timers (a stay's discharge grace, the events a stay derives).

-- Messages answered AA, by their idempotency key (MSH-3, MSH-4, MSH-10,
-- each as written): a resend with the same content is answered AA again
-- and changes nothing; the same key with other content is AE 205.
CREATE TABLE hl7_messages (
    sending_application TEXT NOT NULL,
    facility            TEXT NOT NULL,
    control_id          TEXT NOT NULL,
    -- SHA-256 of the segments after MSH (never the content itself).
    content_digest      BYTEA NOT NULL,
    -- 'applied' or 'ignored'.
    outcome             TEXT NOT NULL,
    received_at         BIGINT NOT NULL,
    PRIMARY KEY (sending_application, facility, control_id)
);

-- Hospital stays, by (MSH-4 facility, visit number); the stay itself as
-- JSON (stays::Stay), the columns for finding it.
CREATE TABLE stays (
    facility      TEXT NOT NULL,
    visit_number  TEXT NOT NULL,
    -- Never logged.
    patient_id    TEXT NOT NULL,
    admitted_at   BIGINT,
    discharged_at BIGINT,
    cancelled     BOOLEAN NOT NULL,
    -- The case the journal's discharge was reconciled into, if any.
    case_id       TEXT,
    updated_at    BIGINT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (facility, visit_number)
);
CREATE INDEX stays_by_patient ON stays (patient_id);
CREATE INDEX stays_by_case ON stays (case_id);

-- The home municipality the journal gave last for a person: for routing
-- it wins over a coordination message's. (Protection is in
-- protected_persons, whatever the source.)
CREATE TABLE journal_persons (
    -- Never logged.
    patient_id        TEXT PRIMARY KEY,
    municipality_code TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Durable timers: one row per pending piece of work, fired when due by
-- whichever gateway claims it first (claimed_until keeps the others off
-- while it works; a claim that outlives a crashed gateway runs out).
CREATE TABLE timers (
    timer_key     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    -- Unix milliseconds.
    due_at        BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    -- JSON, without personal data.
    payload       TEXT NOT NULL
);
CREATE INDEX timers_by_due ON timers (due_at);

-- The batch's read (migration 5) also answers the journal's home
-- municipality of the batch's people (answer 4, the code in found_key).
DROP FUNCTION samgate_lock_and_read(INTEGER, INTEGER[], INTEGER[], TEXT[], TEXT[], TEXT[], INTEGER, INTEGER, TEXT[]);

CREATE FUNCTION samgate_lock_and_read(
    p_lock_class INTEGER,
    p_person_keys INTEGER[],
    p_systems INTEGER[],
    p_message_ids TEXT[],
    p_case_refs TEXT[],
    p_outpatients TEXT[],
    p_outpatient_process INTEGER,
    p_closed_status INTEGER,
    p_people TEXT[]
) RETURNS TABLE (
    answer INTEGER,
    found_system INTEGER,
    found_key TEXT,
    found_case_id TEXT,
    found_sequence BIGINT,
    found_patient_id TEXT,
    found_body BYTEA,
    found_event BYTEA
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k INTEGER;
BEGIN
    FOREACH k IN ARRAY p_person_keys LOOP
        PERFORM pg_advisory_lock(p_lock_class, k);
    END LOOP;
    RETURN QUERY
        SELECT 0, e.source_system, e.source_message_id, e.case_id, e.sequence, c.patient_id, c.body, e.body
        FROM unnest(p_systems, p_message_ids) AS m (system, id)
        JOIN events e ON e.source_system = m.system AND e.source_message_id = m.id
        JOIN cases c ON c.case_id = e.case_id
        UNION ALL
        SELECT 1, r.source_system, r.case_ref, c.case_id, NULL::BIGINT, c.patient_id, c.body, NULL::BYTEA
        FROM case_refs r JOIN cases c ON c.case_id = r.case_id
        WHERE r.case_ref = ANY (p_case_refs)
        UNION ALL
        SELECT 2, NULL::INTEGER, NULL::TEXT, c.case_id, NULL::BIGINT, c.patient_id, c.body, NULL::BYTEA
        FROM cases c
        WHERE c.process = p_outpatient_process AND c.status <> p_closed_status
            AND c.patient_id = ANY (p_outpatients)
        UNION ALL
        SELECT 3, NULL::INTEGER, NULL::TEXT, NULL::TEXT, NULL::BIGINT, p.patient_id, NULL::BYTEA, NULL::BYTEA
        FROM protected_persons p
        WHERE p.patient_id = ANY (p_people)
        UNION ALL
        SELECT 4, NULL::INTEGER, j.municipality_code, NULL::TEXT, NULL::BIGINT, j.patient_id, NULL::BYTEA, NULL::BYTEA
        FROM journal_persons j
        WHERE j.patient_id = ANY (p_people);
END
$$;
