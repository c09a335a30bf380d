-- The organization a session is working in, for people who belong to
-- several (NULL: their first membership).
ALTER TABLE sessions ADD COLUMN organization_id INTEGER REFERENCES organizations(id);
