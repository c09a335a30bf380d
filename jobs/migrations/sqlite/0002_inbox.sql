-- The webhook inbox (see `inbox.rs`): each inbound event once per provider
-- and event id, with its raw request until the retention period has passed.
CREATE TABLE jobs_inbox (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    headers     TEXT,                 -- JSON array of [name, value]; NULL once purged
    body        BLOB,                 -- raw bytes as received; NULL once purged
    received_at INTEGER NOT NULL,     -- Unix ms
    status      TEXT NOT NULL DEFAULT 'received',  -- received | processed | failed | dead
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    finished_at INTEGER,              -- Unix ms: processed or dead
    purged_at   INTEGER,              -- Unix ms: when headers and body went
    UNIQUE (provider, event_id)
);
CREATE INDEX jobs_inbox_status ON jobs_inbox (status, id);
CREATE INDEX jobs_inbox_kept ON jobs_inbox (received_at) WHERE body IS NOT NULL;
