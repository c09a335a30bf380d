-- Invitations: an emailed link that makes its holder a member of an
-- organization (or of one franchise location) with a role.
CREATE TABLE invitations (
    id               INTEGER PRIMARY KEY,
    -- where the person will belong: the organization, or a location of it
    organization_id  INTEGER NOT NULL REFERENCES organizations(id),
    email            TEXT NOT NULL,
    -- admin | manager | member
    role             TEXT NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    invited_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    accepted_at      INTEGER,
    revoked_at       INTEGER
);
CREATE INDEX invitations_org ON invitations(organization_id, created_at DESC);
