DROP INDEX IF EXISTS audit_log_tenant_keyset_idx;
ALTER TABLE tenants DROP COLUMN IF EXISTS suspended_reason;
ALTER TABLE workers DROP COLUMN IF EXISTS version;
ALTER TABLE workers DROP COLUMN IF EXISTS restart_requested_at;
DROP INDEX IF EXISTS usage_requests_hourly_hour_idx;
DROP INDEX IF EXISTS usage_upstream_hourly_hour_idx;
DROP TABLE IF EXISTS usage_budget_hourly;
DROP TABLE IF EXISTS usage_repos_hourly;
DROP TABLE IF EXISTS usage_daily;
