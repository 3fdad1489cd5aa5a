-- What each worker last reported about its identities (quarantined after a 401, cooling down
-- after a secondary limit), for the dashboard.
CREATE TABLE identity_health (
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    identity_id  uuid NOT NULL,
    state        text NOT NULL CHECK (state IN ('healthy', 'quarantined', 'cooling_down')),
    reason       text,
    until        timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, identity_id)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON identity_health TO shoal_app;
ALTER TABLE identity_health ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identity_health
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
