-- What search compares for a prospect: name, email and company, each
-- Unicode case-folded in Rust (SQLite's lower() and LIKE fold ASCII only),
-- one per line. NULL until written: rows older than this migration are
-- filled in by `db::prospects::backfill` when the app starts.
ALTER TABLE prospects ADD COLUMN search_text TEXT;
