-- What an import applied, kept when it is confirmed (JSON: each row of the
-- file and what was done with it), so that the result page shows what was
-- written rather than planning the file again against what is now stored.
ALTER TABLE prospect_imports ADD COLUMN outcome TEXT;
