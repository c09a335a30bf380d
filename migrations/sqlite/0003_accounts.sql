-- Accounts: verified emails, one-time email tokens (verification, password
-- reset), an audit log, and outgoing email (the development
-- mailbox, and the record that makes sending idempotent per key).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

CREATE TABLE email_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    -- verify | reset
    purpose     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX email_tokens_user ON email_tokens(user_id, purpose);

CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    actor_user_id    INTEGER REFERENCES users(id),
    action           TEXT NOT NULL,
    subject_user_id  INTEGER REFERENCES users(id),
    detail           TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL
);
CREATE INDEX audit_log_org ON audit_log(organization_id, created_at DESC);

CREATE TABLE emails (
    id               INTEGER PRIMARY KEY,
    -- one message per key, however often its job runs
    key              TEXT NOT NULL UNIQUE,
    organization_id  INTEGER REFERENCES organizations(id),
    to_addr          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    html             TEXT NOT NULL,
    text             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    -- set when a send starts; cleared again if it fails in a way worth retrying
    claimed_at       INTEGER,
    sent_at          INTEGER,
    provider_id      TEXT,
    error            TEXT
);
CREATE INDEX emails_org ON emails(organization_id, created_at DESC);
