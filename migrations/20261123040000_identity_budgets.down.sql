ALTER TABLE identity_health DROP COLUMN budgets;
