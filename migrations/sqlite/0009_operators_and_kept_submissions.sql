-- Operators run the deployment: they alone see every organization's jobs
-- (counts, errors, dead letters) and may discard a dead letter. Added with
-- `rally operators add EMAIL` (or listed in RALLY_OPERATORS); an operator
-- signs in with an account whose address is confirmed.
CREATE TABLE operators (
    email       TEXT PRIMARY KEY,  -- lower-cased
    created_at  INTEGER NOT NULL
);

-- A dead form submission an operator discarded: its answers are kept here
-- for its organization (listed on /jobs, where it can be tried again),
-- never lost. organization_id is NULL when the submission's form (and so
-- its organization) no longer exists: then operators see it.
CREATE TABLE kept_submissions (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER REFERENCES organizations(id),
    submission_key   TEXT NOT NULL UNIQUE,
    payload          TEXT NOT NULL,  -- the FormSubmission job, JSON
    error            TEXT,
    kept_at          INTEGER NOT NULL
);
CREATE INDEX kept_submissions_org ON kept_submissions(organization_id, id);

-- The development mailbox shows a person the messages sent to their address.
CREATE INDEX emails_recipient ON emails(lower(to_addr), id);
