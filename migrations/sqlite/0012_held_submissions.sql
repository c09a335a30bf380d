-- Submissions that looked automated (sent faster than a person fills in the
-- form, or with the hidden honeypot field filled: browser autofill does
-- both) are held here instead of thrown away, until an owner or admin
-- releases them (they become a FormSubmission job) or discards them, or
-- until the retention period purges them. The reason is also tallied in
-- intake_rejections, which outlives the purge (event summaries count it).
CREATE TABLE held_submissions (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    form_id          INTEGER NOT NULL REFERENCES forms(id),
    -- the rendered form's key plus a hash of the answers: an exact repeat
    -- is held once
    submission_key   TEXT NOT NULL UNIQUE,
    -- too_fast | honeypot
    reason           TEXT NOT NULL,
    answers          TEXT NOT NULL,  -- JSON of domain::Answers
    submitted_at     INTEGER NOT NULL
);
CREATE INDEX held_submissions_by_org ON held_submissions(organization_id, submitted_at DESC);
CREATE INDEX held_submissions_by_form ON held_submissions(form_id, submitted_at);
CREATE INDEX held_submissions_by_time ON held_submissions(submitted_at);
