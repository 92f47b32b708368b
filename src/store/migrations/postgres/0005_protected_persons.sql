-- The person register's protected identities ("skyddade personuppgifter"),
-- as in the SQLite store's migration 4: sticky per person, removed only by
-- an explicit, audited act, never by a message.
CREATE TABLE protected_persons (
    -- Never logged.
    patient_id   TEXT PRIMARY KEY,
    protected_at BIGINT NOT NULL
);

-- The batch's read (migration 4) now also answers which of the batch's
-- people are protected (answer 3, the patient id in found_patient_id), and
-- gives a stored message's event (found_event) so that a reused message id
-- can be told from a resend.
DROP FUNCTION samgate_lock_and_read(INTEGER, INTEGER[], INTEGER[], TEXT[], TEXT[], TEXT[], INTEGER, INTEGER);

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
        WHERE p.patient_id = ANY (p_people);
END
$$;
