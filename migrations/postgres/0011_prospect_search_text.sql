-- What search compares for a prospect: name, email and company, each
-- Unicode case-folded in Rust (so that Postgres and SQLite, whose lower()
-- folds ASCII only, find the same rows), one per line. NULL until
-- written: rows older than this migration are filled in by
-- `db::prospects::backfill` when the app starts.
ALTER TABLE prospects ADD COLUMN search_text TEXT;
