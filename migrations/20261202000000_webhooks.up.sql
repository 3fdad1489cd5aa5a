-- GitHub webhooks a tenant forwards to shoal. Each tenant has its webhook secrets (sealed with its
-- data key, AAD (tenant_id, id)): the current one (retired_at NULL) and, after a rotation, the
-- previous ones, still accepted for 24 h after retired_at. Accepted deliveries are stored once
-- each (by X-GitHub-Delivery) in webhook_events, whose cursor orders them for the tenant's worker.
CREATE TABLE webhook_secrets (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sealed_secret bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz
);
CREATE UNIQUE INDEX webhook_secrets_current_idx ON webhook_secrets (tenant_id) WHERE retired_at IS NULL;

CREATE TABLE webhook_events (
    cursor       bigserial PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    delivery_id  text NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 100),
    event        text NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, delivery_id)
);
CREATE INDEX webhook_events_tenant_cursor_idx ON webhook_events (tenant_id, cursor);

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_secrets, webhook_events TO shoal_app;
GRANT USAGE ON SEQUENCE webhook_events_cursor_seq TO shoal_app;

ALTER TABLE webhook_secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_secrets
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_events
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
