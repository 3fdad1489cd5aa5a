-- Row-level security for every tenant-owned table, and the role the control plane's tenant-scoped
-- helper switches to (`SET LOCAL ROLE shoal_app`) so the policies apply even when the connecting
-- user owns the tables or is a superuser. The tenant is `set_config('shoal.tenant_id', ..., true)`.
--
-- Roles are cluster-wide while each database (and each test database) runs this file, so the role
-- is created idempotently and never dropped by the down migration.
DO $$
BEGIN
    CREATE ROLE shoal_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

-- A non-superuser migration owner must be a member to `SET ROLE shoal_app`.
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT shoal_app TO %I', current_user);
    END IF;
EXCEPTION WHEN OTHERS THEN NULL;
END $$;

-- Admin API tokens: like caller tokens (hash only), but they authenticate the admin JSON API.
CREATE TABLE admin_api_tokens (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash     bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    display_prefix text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz
);
CREATE INDEX admin_api_tokens_tenant_idx ON admin_api_tokens (tenant_id);

GRANT USAGE ON SCHEMA public TO shoal_app;
GRANT SELECT ON users TO shoal_app;
GRANT SELECT, UPDATE ON tenants TO shoal_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    memberships, caller_tokens, identities, policies, workers, usage_requests_hourly,
    usage_upstream_hourly, usage_reports, audit_log, admin_api_tokens
    TO shoal_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO shoal_app;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE caller_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON caller_tokens
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE identities ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON identities
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON policies
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE workers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workers
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_requests_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_requests_hourly
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_upstream_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_upstream_hourly
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_reports
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE admin_api_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON admin_api_tokens
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
