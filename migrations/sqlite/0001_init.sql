-- Rally's schema, SQLite dialect. Times are Unix milliseconds (INTEGER) so
-- the same queries read the same on SQLite and Postgres (BIGINT).

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    -- direct_sales | business | franchise
    kind        TEXT NOT NULL DEFAULT 'direct_sales',
    -- a franchise location points at its HQ organization
    parent_id   INTEGER REFERENCES organizations(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,  -- stored lower-cased
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id          INTEGER NOT NULL REFERENCES users(id),
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    -- owner | admin | manager | member
    role             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (user_id, organization_id)
);

-- Server-side sessions: the cookie holds a random token, the table its hash,
-- so a leaked database does not leak live sessions and any session can be revoked.
CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE forms (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    slug             TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    intro            TEXT NOT NULL DEFAULT '',
    thank_you        TEXT NOT NULL DEFAULT 'Thank you! We will be in touch soon.',
    created_at       INTEGER NOT NULL
);

CREATE TABLE prospects (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    email            TEXT NOT NULL,  -- lower-cased
    name             TEXT NOT NULL,
    phone            TEXT,
    company          TEXT,
    source           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (organization_id, email)
);
CREATE INDEX prospects_newest ON prospects(organization_id, created_at DESC, id DESC);

-- One entry per thing that happened to a prospect; a form submission's entry
-- carries the raw answers and its submission key, which makes processing
-- idempotent under redelivery.
CREATE TABLE timeline_entries (
    id              INTEGER PRIMARY KEY,
    prospect_id     INTEGER NOT NULL REFERENCES prospects(id),
    kind            TEXT NOT NULL,
    submission_key  TEXT UNIQUE,
    form_id         INTEGER REFERENCES forms(id),
    data            TEXT NOT NULL,  -- JSON
    created_at      INTEGER NOT NULL
);
CREATE INDEX timeline_by_prospect ON timeline_entries(prospect_id, created_at);

-- Submissions turned away without storing anything (bots, too fast): counted.
CREATE TABLE intake_rejections (
    id          INTEGER PRIMARY KEY,
    form_id     INTEGER NOT NULL REFERENCES forms(id),
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX intake_rejections_form ON intake_rejections(form_id, reason);
