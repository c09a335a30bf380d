-- A form's fields, in order (the form builder). `key` names the prospect
-- attribute a standard field fills (name, email, phone, company, interest,
-- consent); NULL for a custom field, whose answer is kept on the timeline
-- with its label. `options`: a choice's options, one per line. Every form
-- made before this gets the fields it showed until now, so nothing changes
-- for it.
CREATE TABLE form_fields (
    id               INTEGER PRIMARY KEY,
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    form_id          INTEGER NOT NULL REFERENCES forms(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    key              TEXT,
    kind             TEXT NOT NULL,
    label            TEXT NOT NULL,
    help             TEXT NOT NULL DEFAULT '',
    required         BOOLEAN NOT NULL DEFAULT FALSE,
    options          TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    UNIQUE (form_id, key)
);
CREATE INDEX form_fields_form ON form_fields(form_id, position);
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 1, 'name', 'text', 'Name', TRUE, created_at FROM forms;
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 2, 'email', 'email', 'Email', TRUE, created_at FROM forms;
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 3, 'phone', 'phone', 'Phone', FALSE, created_at FROM forms;
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 4, 'company', 'text', 'Company', FALSE, created_at FROM forms;
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 5, 'interest', 'long_text', 'What are you interested in?', FALSE, created_at FROM forms;
INSERT INTO form_fields (organization_id, form_id, position, key, kind, label, required, created_at)
SELECT organization_id, id, 6, 'consent', 'consent', 'Yes, you may contact me about this.', FALSE, created_at FROM forms;

-- An organization's branding on its public forms and the event projector:
-- a logo (a small image, at most 24 KB, shown inline) and an accent colour
-- (`#rrggbb`); empty for Rally's own. A form may send people on to an
-- address of the organization's after they submit.
CREATE TABLE organization_branding (
    organization_id  INTEGER PRIMARY KEY REFERENCES organizations(id),
    logo             BLOB,
    accent           TEXT NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL
);
ALTER TABLE forms ADD COLUMN redirect_url TEXT NOT NULL DEFAULT '';

-- The home page's first-run checklist, put away by a person (or by itself
-- once every item is done).
CREATE TABLE home_checklist_dismissals (
    user_id          INTEGER NOT NULL REFERENCES users(id),
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    dismissed_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, organization_id)
);
