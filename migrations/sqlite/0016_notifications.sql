-- #15: what a person is told (in the app at /notifications, and by email),
-- which kinds they want, the morning summary's one-per-day record, and
-- when they last looked at the home page (its "new leads since").
-- A prospect erased takes its notifications (they name it) with it.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    -- assigned | new_lead | summary
    kind             TEXT NOT NULL,
    prospect_id      INTEGER REFERENCES prospects(id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    -- one notification per event however often its job runs
    key              TEXT NOT NULL UNIQUE,
    created_at       INTEGER NOT NULL,
    read_at          INTEGER
);
CREATE INDEX notifications_by_user ON notifications(user_id, organization_id, read_at);

ALTER TABLE users ADD COLUMN notify_assigned INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_new_lead INTEGER NOT NULL DEFAULT 1;
ALTER TABLE users ADD COLUMN notify_summary INTEGER NOT NULL DEFAULT 1;

-- The morning summary: one row per person per local date, inserted in the
-- transaction that queues the summary, so however many workers run the
-- hourly tick (or a tick runs again), a person gets one summary a day.
CREATE TABLE summary_sends (
    user_id     INTEGER NOT NULL REFERENCES users(id),
    local_date  TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, local_date)
);

-- The home page's "new leads since you last looked", per organization.
CREATE TABLE home_visits (
    user_id          INTEGER NOT NULL REFERENCES users(id),
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    seen_at          INTEGER NOT NULL,
    -- the visit before the current one: leads after it are new
    seen_before      INTEGER NOT NULL,
    PRIMARY KEY (user_id, organization_id)
);

-- The home page's week counts (stage changes in a week) and hottest
-- prospects (the newest submissions) read timeline entries by kind and time.
CREATE INDEX timeline_by_kind_time ON timeline_entries(kind, created_at);
