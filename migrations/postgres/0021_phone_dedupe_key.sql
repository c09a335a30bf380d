-- (see migrations/sqlite/0021_phone_dedupe_key.sql) A form's dedupe key:
-- `email` (every form until now) or `phone`. A phone-keyed form may drop
-- the email field or make it optional; its phone field is then required
-- (the form builder sees to it).
ALTER TABLE forms ADD COLUMN dedupe_key TEXT NOT NULL DEFAULT 'email'
    CHECK (dedupe_key IN ('email', 'phone'));

-- A prospect is keyed by its email key, or, when it has no email (`email`
-- is ''), by `phone_key`: its phone normalised (`Phone::key`). Never both:
-- a prospect with an email has phone_key ''. One live prospect per
-- organization and key: (organization, email, '') for an email-keyed
-- prospect as before, (organization, '', phone key) for a phone-keyed one;
-- the intake upsert's ON CONFLICT names one target for both.
ALTER TABLE prospects ADD COLUMN phone_key TEXT NOT NULL DEFAULT '',
    ADD CONSTRAINT prospects_one_key CHECK (email = '' OR phone_key = '');
DROP INDEX prospects_live_email;
CREATE UNIQUE INDEX prospects_live_key ON prospects(organization_id, email, phone_key) WHERE deleted_at IS NULL;
