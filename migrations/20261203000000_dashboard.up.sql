-- The dashboard's rollups and worker controls.

-- One row per tenant and UTC day, kept 400 days: what the month headline, the operator console
-- and the platform charts read, so they never sum hourly rows of every tenant. Written in the
-- same transaction as the hourly rows (tenants::usage::apply_report).
CREATE TABLE usage_daily (
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day              date NOT NULL,
    requests         bigint NOT NULL DEFAULT 0,
    from_cache       bigint NOT NULL DEFAULT 0,
    upstream_calls   bigint NOT NULL DEFAULT 0,
    units            bigint NOT NULL DEFAULT 0,
    not_modified     bigint NOT NULL DEFAULT 0,
    last_request_at  timestamptz,
    PRIMARY KEY (tenant_id, day)
);
CREATE INDEX usage_daily_day_idx ON usage_daily (day);

INSERT INTO usage_daily (tenant_id, day, requests, from_cache, last_request_at)
SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, sum(requests),
       coalesce(sum(requests) FILTER (WHERE cache_status IN ('HIT', 'REVALIDATED', 'STALE')), 0),
       max(hour)
FROM usage_requests_hourly GROUP BY 1, 2;
INSERT INTO usage_daily (tenant_id, day, upstream_calls, units, not_modified)
SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, sum(calls), sum(units), sum(not_modified)
FROM usage_upstream_hourly GROUP BY 1, 2
ON CONFLICT (tenant_id, day) DO UPDATE SET
    upstream_calls = EXCLUDED.upstream_calls, units = EXCLUDED.units, not_modified = EXCLUDED.not_modified;

-- The repositories read most, per hour, as workers report them (each report carries its top few
-- and the rest summed as '(other)'); at most 100 names per tenant and hour, the rest is '(other)'.
CREATE TABLE usage_repos_hourly (
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour        timestamptz NOT NULL,
    repository  text NOT NULL CHECK (length(repository) <= 200),
    requests    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, repository)
);

-- Each identity's budget per resource as the last report of each hour left it, for the budget chart.
CREATE TABLE usage_budget_hourly (
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour          timestamptz NOT NULL,
    identity_id   uuid NOT NULL,
    resource      text NOT NULL,
    budget_limit  bigint NOT NULL,
    remaining     bigint NOT NULL,
    reset_at      timestamptz,
    PRIMARY KEY (tenant_id, hour, identity_id, resource)
);

-- Requests the worker answered with an error (refused, fallen back, upstream failed), per hour;
-- not counted in usage_requests_hourly.
CREATE TABLE usage_errors_hourly (
    tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour       timestamptz NOT NULL,
    errors     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour)
);

-- Hourly rows are read by tenant and time range.
CREATE INDEX usage_upstream_hourly_hour_idx ON usage_upstream_hourly (hour);
CREATE INDEX usage_requests_hourly_hour_idx ON usage_requests_hourly (hour);

-- An admin's Restart: the reconciler stops the worker, starts it again and clears the marker.
ALTER TABLE workers ADD COLUMN restart_requested_at timestamptz;
-- The shoal-worker version the worker last reported.
ALTER TABLE workers ADD COLUMN version text;

-- Why the operator suspended the tenant.
ALTER TABLE tenants ADD COLUMN suspended_reason text CHECK (length(suspended_reason) <= 500);

-- Audit filters page by (created_at, id).
CREATE INDEX audit_log_tenant_keyset_idx ON audit_log (tenant_id, created_at DESC, id DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON usage_daily, usage_repos_hourly, usage_budget_hourly, usage_errors_hourly TO shoal_app;
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_repos_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_repos_hourly
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_budget_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_budget_hourly
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE usage_errors_hourly ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_errors_hourly
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
