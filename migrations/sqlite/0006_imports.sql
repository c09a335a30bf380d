-- CSV imports waiting for confirmation: the file is kept between the
-- preview and the confirmation, so nothing is written before the person
-- has seen what will happen, and the file is not sent twice.
CREATE TABLE prospect_imports (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    filename         TEXT NOT NULL,
    content          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    applied_at       INTEGER
);
