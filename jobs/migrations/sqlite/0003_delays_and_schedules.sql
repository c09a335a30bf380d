-- Delayed jobs held for SQS until they are due within the queue's longest
-- delay (`delay.rs`), the outbox's due time (ms; NULL: now), and periodic
-- schedules with their next due tick (`schedule.rs`). Times in ms.
CREATE TABLE jobs_delayed (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    dedup_key TEXT,
    organization_id INTEGER,
    run_at INTEGER NOT NULL
);
CREATE INDEX jobs_delayed_due ON jobs_delayed (run_at);
ALTER TABLE jobs_outbox ADD COLUMN run_at INTEGER;
CREATE TABLE jobs_schedules (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    cron TEXT NOT NULL,
    zone TEXT NOT NULL,
    next_due BIGINT NOT NULL,
    last_tick BIGINT,
    last_run_at BIGINT
);
