-- The person register's protected identities ("skyddade personuppgifter").
-- Protection is sticky per person: once any source has said a person is
-- protected, every case of that person is, whatever later messages say. A
-- row is removed only by an explicit, audited act (`samgate person
-- unprotect`), never by a message.
CREATE TABLE protected_persons (
    -- Never logged.
    patient_id   TEXT PRIMARY KEY,
    protected_at INTEGER NOT NULL
);
