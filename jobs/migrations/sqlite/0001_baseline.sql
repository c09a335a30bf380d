-- The jobs crate's own tables as they stood when they became versioned.
-- A database whose tables the crate created before (with CREATE TABLE IF NOT
-- EXISTS at start-up) is brought to this shape by `migrations::adopt` and
-- this migration is marked applied without running.

-- The transactional outbox (see `outbox.rs`).
CREATE TABLE jobs_outbox (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    body            TEXT NOT NULL,
    dedup_key       TEXT,
    created_at      INTEGER NOT NULL,   -- Unix ms
    job_id          TEXT,
    max_attempts    INTEGER,
    organization_id INTEGER
);

-- Outcome counters per kind (SQS keeps none).
CREATE TABLE jobs_outcomes (
    kind      TEXT PRIMARY KEY,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    dead      INTEGER NOT NULL DEFAULT 0
);

-- Failed attempts on SQS, for the dashboard.
CREATE TABLE jobs_failures (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    dead            BOOLEAN NOT NULL,
    error           TEXT NOT NULL,
    at              INTEGER NOT NULL,   -- Unix ms
    organization_id INTEGER,
    body            TEXT
);

-- apalis-sqlite acknowledges a batch by looking up every job still carrying
-- the worker's id in `lock_by`, and finished jobs keep it: a busy worker's
-- acks grow with all it has ever done. A finished job needs no lock.
CREATE TRIGGER IF NOT EXISTS jobs_release_lock_when_done
AFTER UPDATE OF status ON Jobs
WHEN NEW.status = 'Done' AND NEW.lock_by IS NOT NULL
BEGIN UPDATE Jobs SET lock_by = NULL WHERE id = NEW.id; END;

-- Jobs carry their organization (`Job::organization`). apalis names its
-- columns in every query it makes, so an extra nullable column is invisible
-- to it.
ALTER TABLE Jobs ADD COLUMN organization_id INTEGER;
CREATE INDEX IF NOT EXISTS jobs_organization_failed
    ON Jobs (organization_id, status) WHERE status IN ('Failed', 'Killed');
