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
    content_digest      BLOB NOT NULL,
    -- 'applied' or 'ignored'.
    outcome             TEXT NOT NULL,
    received_at         INTEGER NOT NULL,
    PRIMARY KEY (sending_application, facility, control_id)
);

-- Hospital stays, by (MSH-4 facility, visit number); the stay itself as
-- JSON (stays::Stay), the columns for finding it.
CREATE TABLE stays (
    facility      TEXT NOT NULL,
    visit_number  TEXT NOT NULL,
    -- Never logged.
    patient_id    TEXT NOT NULL,
    admitted_at   INTEGER,
    discharged_at INTEGER,
    cancelled     BOOLEAN NOT NULL,
    -- The case the journal's discharge was reconciled into, if any.
    case_id       TEXT,
    updated_at    INTEGER NOT NULL,
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
    updated_at        INTEGER NOT NULL
);

-- Durable timers: one row per pending piece of work, fired when due by
-- whichever gateway claims it first (claimed_until keeps the others off
-- while it works; a claim that outlives a crashed gateway runs out).
CREATE TABLE timers (
    timer_key     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    -- Unix milliseconds.
    due_at        INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    -- JSON, without personal data.
    payload       TEXT NOT NULL
);
CREATE INDEX timers_by_due ON timers (due_at);
