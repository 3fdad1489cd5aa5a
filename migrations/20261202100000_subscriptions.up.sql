-- A tenant's Stripe subscription as last applied. The subscription object is the truth; applied_at is
-- the `created` time of the Stripe event (or fetch) that was applied, so a late or replayed event never
-- overwrites newer state. past_due_since starts the grace period; when it ends the tenant is
-- suspended, as it is for unpaid, canceled and incomplete_expired. 'none': never subscribed (the plan
-- column says free).
ALTER TABLE tenants
    ADD COLUMN subscription_status text NOT NULL DEFAULT 'none' CHECK (subscription_status IN (
        'none', 'incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')),
    ADD COLUMN subscription_applied_at timestamptz,
    ADD COLUMN past_due_since timestamptz,
    ADD COLUMN current_period_end timestamptz;
