-- Working prospects: who owns each one (the rep), its stage, and tags.
-- Notes and stage changes are timeline entries (kinds 'note', 'stage').
ALTER TABLE prospects ADD COLUMN owner_user_id BIGINT REFERENCES users(id);
-- new | contacted | engaged | hot | customer | lost
ALTER TABLE prospects ADD COLUMN stage TEXT NOT NULL DEFAULT 'new';
CREATE INDEX prospects_owner ON prospects(organization_id, owner_user_id, created_at DESC);

CREATE TABLE prospect_tags (
    prospect_id  BIGINT NOT NULL REFERENCES prospects(id),
    tag          TEXT NOT NULL,
    PRIMARY KEY (prospect_id, tag)
);
