-- A batch's read on PostgreSQL, with its people's locks taken first, in
-- one call (see `PostgresStore::begin_and_read`). The locks are
-- session-level advisory locks, taken in the order given (the caller
-- sorts the keys, so two batches cannot deadlock), and held until the
-- caller has written the batch and lets them go. The read comes after the
-- locks inside this VOLATILE function, so it runs on a snapshot taken
-- once the locks are held and sees everything the batch before it
-- committed; a read in the same statement as the locks would not.
--
-- Each row says what it answers (0 a stored message with its case, 1 a
-- case ref with its case, 2 an open outpatient case of one of the people);
-- the columns are those of the SQLite read in `store/sql.rs`.
CREATE FUNCTION samgate_lock_and_read(
    p_lock_class INTEGER,
    p_person_keys INTEGER[],
    p_systems INTEGER[],
    p_message_ids TEXT[],
    p_case_refs TEXT[],
    p_outpatients TEXT[],
    p_outpatient_process INTEGER,
    p_closed_status INTEGER
) RETURNS TABLE (
    answer INTEGER,
    found_system INTEGER,
    found_key TEXT,
    found_case_id TEXT,
    found_sequence BIGINT,
    found_patient_id TEXT,
    found_body BYTEA
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k INTEGER;
BEGIN
    FOREACH k IN ARRAY p_person_keys LOOP
        PERFORM pg_advisory_lock(p_lock_class, k);
    END LOOP;
    RETURN QUERY
        SELECT 0, e.source_system, e.source_message_id, e.case_id, e.sequence, c.patient_id, c.body
        FROM unnest(p_systems, p_message_ids) AS m (system, id)
        JOIN events e ON e.source_system = m.system AND e.source_message_id = m.id
        JOIN cases c ON c.case_id = e.case_id
        UNION ALL
        SELECT 1, r.source_system, r.case_ref, c.case_id, NULL::BIGINT, c.patient_id, c.body
        FROM case_refs r JOIN cases c ON c.case_id = r.case_id
        WHERE r.case_ref = ANY (p_case_refs)
        UNION ALL
        SELECT 2, NULL::INTEGER, NULL::TEXT, c.case_id, NULL::BIGINT, c.patient_id, c.body
        FROM cases c
        WHERE c.process = p_outpatient_process AND c.status <> p_closed_status
            AND c.patient_id = ANY (p_outpatients);
END
$$;
