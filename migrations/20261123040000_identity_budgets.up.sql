-- The budget each identity's account had left when its worker last reported, per rate-limit
-- resource: `[{"resource": "core", "limit": 5000, "remaining": 4990, "reset": "..."}]`.
ALTER TABLE identity_health ADD COLUMN budgets jsonb NOT NULL DEFAULT '[]';
