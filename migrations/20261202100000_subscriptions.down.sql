ALTER TABLE tenants
    DROP COLUMN subscription_status,
    DROP COLUMN subscription_applied_at,
    DROP COLUMN past_due_since,
    DROP COLUMN current_period_end;
