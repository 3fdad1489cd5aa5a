-- A tenant's plan and subscription status reach its worker in the bundle (the free allowance), so a
-- change to either bumps the bundle version whoever writes it (Stripe webhooks, the operator).
CREATE FUNCTION bump_bundle_on_billing_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workers SET bundle_version = bundle_version + 1, updated_at = now() WHERE tenant_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER tenants_billing_bumps_bundle
    AFTER UPDATE OF plan, subscription_status ON tenants
    FOR EACH ROW
    WHEN (OLD.plan IS DISTINCT FROM NEW.plan OR OLD.subscription_status IS DISTINCT FROM NEW.subscription_status)
    EXECUTE FUNCTION bump_bundle_on_billing_change();
