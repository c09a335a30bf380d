-- #15 §2: soft delete, and the dedupe key among live prospects only (see
-- migrations/sqlite/0018_lifecycle_soft_delete.sql).
ALTER TABLE prospects ADD COLUMN deleted_at BIGINT;
ALTER TABLE prospects DROP CONSTRAINT IF EXISTS prospects_organization_id_email_key;
CREATE UNIQUE INDEX prospects_live_email ON prospects(organization_id, email) WHERE deleted_at IS NULL;
CREATE INDEX prospects_trash ON prospects(organization_id, deleted_at) WHERE deleted_at IS NOT NULL;
