-- no-transaction
-- #15 §2: a deleted prospect goes to the trash (`deleted_at`, ms) for 30
-- days before it is erased, and the dedupe key holds among live prospects
-- only, so a deleted person who comes back is a new prospect. SQLite cannot
-- drop the table's inline UNIQUE (organization_id, email), so the table is
-- rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter): foreign
-- keys off for this connection (a DROP TABLE with them on would cascade to
-- tasks and notifications), one transaction, foreign keys checked, back on.
-- A migration before this one that adds a column to `prospects` must add it
-- to the copy below too.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TRIGGER IF EXISTS timeline_activity;
CREATE TABLE prospects_new (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    email            TEXT NOT NULL,
    name             TEXT NOT NULL,
    phone            TEXT,
    company          TEXT,
    source           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    owner_user_id    INTEGER REFERENCES users(id),
    stage            TEXT NOT NULL DEFAULT 'new',
    search_text      TEXT,
    last_activity_at INTEGER NOT NULL DEFAULT 0,
    deleted_at       INTEGER
);
INSERT INTO prospects_new (id, organization_id, email, name, phone, company, source, created_at, updated_at,
                           owner_user_id, stage, search_text, last_activity_at)
SELECT id, organization_id, email, name, phone, company, source, created_at, updated_at,
       owner_user_id, stage, search_text, last_activity_at
FROM prospects;
DROP TABLE prospects;
ALTER TABLE prospects_new RENAME TO prospects;
CREATE UNIQUE INDEX prospects_live_email ON prospects(organization_id, email) WHERE deleted_at IS NULL;
CREATE INDEX prospects_trash ON prospects(organization_id, deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX prospects_newest ON prospects(organization_id, created_at DESC, id DESC);
CREATE INDEX prospects_owner ON prospects(organization_id, owner_user_id, created_at DESC);
CREATE INDEX prospects_activity ON prospects(organization_id, last_activity_at DESC, id DESC);
CREATE INDEX prospects_stage ON prospects(organization_id, stage, last_activity_at DESC);
CREATE TRIGGER prospects_activity_on_insert AFTER INSERT ON prospects
WHEN NEW.last_activity_at < NEW.created_at
BEGIN
    UPDATE prospects SET last_activity_at = NEW.created_at WHERE id = NEW.id;
END;
CREATE TRIGGER timeline_activity AFTER INSERT ON timeline_entries
BEGIN
    UPDATE prospects SET last_activity_at = NEW.created_at
    WHERE id = NEW.prospect_id AND last_activity_at < NEW.created_at;
END;
COMMIT;
PRAGMA foreign_keys = ON;
