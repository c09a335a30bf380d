-- Franchises: locations are organizations whose parent_id is their HQ
-- (kind 'location'). HQ publishes forms as templates that locations copy
-- and customise; a copy remembers its template.
ALTER TABLE forms ADD COLUMN is_template BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE forms ADD COLUMN template_id INTEGER REFERENCES forms(id);
CREATE INDEX organizations_parent ON organizations(parent_id);
