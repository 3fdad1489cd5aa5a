-- Members an admin removed: they stay out when they sign in again (GitHub still lists them in the
-- org) until an admin lets them back in. Leaving the org is not recorded here: rejoining it is
-- enough to come back.
CREATE TABLE member_removals (
    tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    removed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

GRANT SELECT, INSERT, DELETE ON member_removals TO shoal_app;
ALTER TABLE member_removals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON member_removals
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
