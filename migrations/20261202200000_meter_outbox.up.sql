-- Billing Meter reports of paid tenants' reads beyond their plan's allowance: one row per tenant and
-- hour, enqueued once (primary key) with a deterministic identifier, and drained to Stripe with
-- FOR UPDATE SKIP LOCKED. A row is marked sent in the transaction that holds its lock, so a crash
-- mid-report leaves it unsent and it is sent again under the same identifier (Stripe deduplicates).
-- A job table drained across tenants by the control plane, like billing_events: no RLS policy.
CREATE TABLE billing_meter_outbox (
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hour             timestamptz NOT NULL,
    identifier       text NOT NULL UNIQUE,
    stripe_customer  text NOT NULL,
    value            bigint NOT NULL CHECK (value > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    sent_at          timestamptz,
    PRIMARY KEY (tenant_id, hour)
);
CREATE INDEX billing_meter_outbox_unsent_idx ON billing_meter_outbox (next_attempt_at) WHERE sent_at IS NULL;
