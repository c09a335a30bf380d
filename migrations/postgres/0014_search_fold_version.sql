-- Which version of `domain::search_fold` made `prospects.search_text`.
-- At start-up, `db::prospects::backfill` compares it with
-- `domain::SEARCH_FOLD_VERSION`: when the fold has changed (version 2
-- drops accents), every row's search text is made again. One row.
CREATE TABLE search_fold_version (version BIGINT NOT NULL);
INSERT INTO search_fold_version (version) VALUES (1);
