-- Announces inserted jobs once per statement and job kind, not once per
-- row, and lets a caller announce them after its commit instead.
--
-- apalis-postgres's `notify_workers` trigger runs `pg_notify` for every
-- inserted row (about 9 µs each, and a queue entry per job). A batch of
-- 500 form submissions inserted by one `unnest()` statement sent 500
-- notifications that all say the same thing to our listener (`wake.rs`),
-- which only wants the kind: wake its workers.
--
-- This trigger replaces it, under the same name (so that a later apalis
-- migration that re-creates `notify_workers` replaces this one rather than
-- adding a second): after each INSERT statement on `apalis.jobs`, one
-- notification per distinct `job_type` among the rows due now, on the
-- channel apalis uses, with the payload `{"job_type": …}`. Postgres folds
-- identical notifications within a transaction into one.
--
-- A transaction that notifies holds a database-wide lock from just before
-- its commit until it ends, WAL flush included: concurrent notifying
-- writers commit one at a time. A caller that commits batches many times
-- a second (form intake) sets `jobs.announce_after_commit` to `on` for its
-- insert statement (`SqlQueue::enqueue_all_quietly_in`, in the statement
-- itself; the trigger clears it) and sends the notification after its
-- commit (`SqlQueue::announce`).
--
-- Nothing in this crate uses apalis's own listener (which wanted each
-- job's id); `apalis.notify_new_jobs()` stays, unused.
DROP TRIGGER IF EXISTS notify_workers ON apalis.jobs;

CREATE OR REPLACE FUNCTION apalis.notify_new_jobs_by_kind() RETURNS TRIGGER AS $$
BEGIN
    IF current_setting('jobs.announce_after_commit', true) = 'on' THEN
        -- For this statement only: a later insert in the same transaction
        -- is announced as usual.
        PERFORM set_config('jobs.announce_after_commit', '', true);
        RETURN NULL;
    END IF;
    -- Due: by the clock now, not `now()` (the transaction's start: a job
    -- enqueued for "now" later in a long transaction would look not yet
    -- due); a second's grace for the enqueuing process's clock.
    PERFORM pg_notify('apalis::job::insert', json_build_object('job_type', due.job_type)::text)
    FROM (SELECT DISTINCT job_type FROM new_jobs
          WHERE run_at <= clock_timestamp() + interval '1 second') AS due;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER notify_workers
AFTER INSERT ON apalis.jobs
REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION apalis.notify_new_jobs_by_kind();

-- Two indexes apalis's first migration made that duplicate later ones
-- (`unique_job_id` = the primary key on `id`; `lidx` = `idx_apalis_jobs_lock_by`):
-- every inserted job, and every claim (which changes the indexed `lock_by`),
-- paid for each twice.
DROP INDEX IF EXISTS apalis.unique_job_id;
DROP INDEX IF EXISTS apalis.lidx;
