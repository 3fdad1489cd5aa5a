-- The role shoal_app stays: it is cluster-wide and other databases may still use it.
DROP POLICY IF EXISTS tenant_isolation ON tenants;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON memberships;
ALTER TABLE memberships DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON caller_tokens;
ALTER TABLE caller_tokens DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON identities;
ALTER TABLE identities DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON policies;
ALTER TABLE policies DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON workers;
ALTER TABLE workers DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON usage_requests_hourly;
ALTER TABLE usage_requests_hourly DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON usage_upstream_hourly;
ALTER TABLE usage_upstream_hourly DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON usage_reports;
ALTER TABLE usage_reports DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON audit_log;
ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;

DROP TABLE IF EXISTS admin_api_tokens;

REVOKE ALL ON users, tenants, memberships, caller_tokens, identities, policies, workers,
    usage_requests_hourly, usage_upstream_hourly, usage_reports, audit_log FROM shoal_app;
REVOKE ALL ON SEQUENCE audit_log_id_seq FROM shoal_app;
REVOKE USAGE ON SCHEMA public FROM shoal_app;
