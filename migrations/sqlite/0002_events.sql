-- Live events: a named moment when an audience submits one form. Submissions
-- to the form between starts_at and ends_at (open while NULL) belong to it.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    form_id          INTEGER NOT NULL REFERENCES forms(id),
    name             TEXT NOT NULL,
    starts_at        INTEGER NOT NULL,
    ends_at          INTEGER,
    -- the organizer's choice to show first names on the projector
    show_names       INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL
);
CREATE INDEX events_by_org ON events(organization_id, starts_at DESC);
CREATE INDEX timeline_by_form_time ON timeline_entries(form_id, created_at);
CREATE INDEX intake_rejections_form_time ON intake_rejections(form_id, created_at);
