-- The pipeline and the prospect list's filters (issue #15).
-- Last activity: the newest timeline entry of a prospect (or its creation),
-- kept by triggers so every writer (intake, quick add, import, notes,
-- stage moves) keeps it without knowing of it; the list sorts and filters
-- by it with an index.
ALTER TABLE prospects ADD COLUMN last_activity_at INTEGER NOT NULL DEFAULT 0;
UPDATE prospects SET last_activity_at = MAX(created_at,
    COALESCE((SELECT MAX(t.created_at) FROM timeline_entries t WHERE t.prospect_id = prospects.id), 0));
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
CREATE INDEX prospects_activity ON prospects(organization_id, last_activity_at DESC, id DESC);
CREATE INDEX prospects_stage ON prospects(organization_id, stage, last_activity_at DESC);
CREATE INDEX prospect_tags_tag ON prospect_tags(tag, prospect_id);
-- Saved views: a named set of the list's filters (its query string, as
-- Rally writes it), a person's own or shared with the organization.
CREATE TABLE saved_views (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    user_id          INTEGER NOT NULL REFERENCES users(id),
    name             TEXT NOT NULL,
    query            TEXT NOT NULL,
    shared           INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE INDEX saved_views_org ON saved_views(organization_id, name);
