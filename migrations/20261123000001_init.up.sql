-- The first schema: people, org tenants and everything a tenant owns.
-- Every tenant-owned table carries tenant_id; the control plane reaches those rows only through
-- its tenant-scoped transaction helper.

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    github_id       bigint NOT NULL UNIQUE,
    login           text NOT NULL,
    name            text,
    avatar_url      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

CREATE TABLE tenants (
    id                uuid PRIMARY KEY,
    slug              text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$'),
    github_org        text NOT NULL,
    github_org_id     bigint NOT NULL,
    plan              text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'team', 'business')),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    -- The tenant's data key, wrapped by the master key (shoal_common::crypto format).
    wrapped_data_key  bytea NOT NULL,
    stripe_customer_id      text,
    stripe_subscription_id  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    verified_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE caller_tokens (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- HMAC-SHA256(pepper, token); the token itself is never stored.
    token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    display_prefix text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX caller_tokens_tenant_idx ON caller_tokens (tenant_id, user_id);

CREATE TABLE identities (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('pat', 'github_app')),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- PAT or App private key, sealed by the tenant's data key with AAD (tenant_id, id).
    sealed_secret    bytea NOT NULL,
    app_id           bigint,
    installation_id  bigint,
    account_login    text,
    account_id       bigint,
    scopes           text[] NOT NULL DEFAULT '{}',
    enabled          boolean NOT NULL DEFAULT true,
    created_by       uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'github_app' OR (app_id IS NOT NULL AND installation_id IS NOT NULL))
);
CREATE INDEX identities_tenant_idx ON identities (tenant_id);

CREATE TABLE policies (
    tenant_id         uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    allowed_owners    text[] NOT NULL DEFAULT '{}',
    public_only       boolean NOT NULL DEFAULT true,
    search_allowed    boolean NOT NULL DEFAULT true,
    token_free_reads  boolean NOT NULL DEFAULT false,
    ttl_overrides     jsonb NOT NULL DEFAULT '{}',
    wasm_module       bytea,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
    tenant_id       uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    id              uuid NOT NULL UNIQUE,
    desired_state   text NOT NULL DEFAULT 'running' CHECK (desired_state IN ('running', 'stopped')),
    observed_state  text NOT NULL DEFAULT 'pending' CHECK (observed_state IN ('pending', 'starting', 'running', 'stopped', 'failed')),
    bundle_version  bigint NOT NULL DEFAULT 1,
    -- HMAC key the worker signs internal API requests with, sealed like an identity secret.
    sealed_secret   bytea,
    address         text,
    restarts        integer NOT NULL DEFAULT 0,
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Usage, aggregated per hour (days are sums of hours).
CREATE TABLE usage_requests_hourly (
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour             timestamptz NOT NULL,
    caller_token_id  uuid,
    route_class      text NOT NULL,
    cache_status     text NOT NULL,
    requests         bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX usage_requests_hourly_key ON usage_requests_hourly
    (tenant_id, hour, COALESCE(caller_token_id, '00000000-0000-0000-0000-000000000000'::uuid), route_class, cache_status);

CREATE TABLE usage_upstream_hourly (
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour          timestamptz NOT NULL,
    identity_id   uuid NOT NULL,
    resource      text NOT NULL,
    calls         bigint NOT NULL DEFAULT 0,
    units         bigint NOT NULL DEFAULT 0,
    not_modified  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, hour, identity_id, resource)
);

-- Report ids already applied, so a retried usage report counts once.
CREATE TABLE usage_reports (
    report_id    uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    tenant_id      uuid REFERENCES tenants(id) ON DELETE CASCADE,
    actor_user_id  uuid REFERENCES users(id) ON DELETE SET NULL,
    action         text NOT NULL,
    target         text,
    ip             inet,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, created_at DESC);

-- Stripe events by their id: processed once, kept for audit.
CREATE TABLE billing_events (
    id            text PRIMARY KEY,
    tenant_id     uuid REFERENCES tenants(id) ON DELETE SET NULL,
    event_type    text NOT NULL,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz
);
