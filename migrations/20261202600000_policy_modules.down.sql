DROP TABLE policy_module_logs;
DROP TABLE policy_module_failures;
ALTER TABLE policies DROP COLUMN module_on_failure;
DROP TABLE policy_modules;
