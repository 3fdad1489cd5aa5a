DROP TRIGGER IF EXISTS tenants_billing_bumps_bundle ON tenants;
DROP FUNCTION IF EXISTS bump_bundle_on_billing_change();
