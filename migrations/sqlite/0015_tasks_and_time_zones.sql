-- #15: follow-up tasks on prospects, and a time zone for each person and
-- organization (IANA names, checked by chrono-tz where they are typed).
-- A person without a zone of their own sees times in their organization's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    -- the prospect's organization (a location's, when HQ adds one)
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    prospect_id      INTEGER NOT NULL REFERENCES prospects(id) ON DELETE CASCADE,
    -- whose follow-up it is (who added it)
    user_id          INTEGER NOT NULL REFERENCES users(id),
    -- call | email | meeting | other
    kind             TEXT NOT NULL,
    note             TEXT NOT NULL DEFAULT '',
    due_at           INTEGER NOT NULL,
    done_at          INTEGER,
    created_at       INTEGER NOT NULL
);
CREATE INDEX tasks_open_by_user ON tasks(user_id, done_at, due_at);
CREATE INDEX tasks_by_prospect ON tasks(prospect_id, due_at);
CREATE INDEX tasks_by_organization ON tasks(organization_id, due_at);
