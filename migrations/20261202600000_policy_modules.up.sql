-- A tenant's WebAssembly policy modules: the one in force ('current') and the one before it
-- ('previous', restorable in one click). Stored as the binary module (a .wat upload is compiled
-- first) with its SHA-256; the worker compiles it from these bytes.
CREATE TABLE policy_modules (
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    slot         text NOT NULL CHECK (slot IN ('current', 'previous')),
    wasm         bytea NOT NULL CHECK (length(wasm) <= 1048576),
    sha256       text NOT NULL CHECK (length(sha256) = 64),
    uploaded_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    -- Deferrable: checked at the end of a statement, so a restore swaps the two slots in one UPDATE.
    PRIMARY KEY (tenant_id, slot) DEFERRABLE
);

-- What a request gets when the module fails on it: served as if there were no module, or fallback_local.
ALTER TABLE policies
    ADD COLUMN module_on_failure text NOT NULL DEFAULT 'serve' CHECK (module_on_failure IN ('serve', 'fallback_local'));

-- Failures the worker reported, per kind (fuel, timeout, memory, trap, garbage, instantiate), and
-- the module's latest log lines.
CREATE TABLE policy_module_failures (
    tenant_id    uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sha256       text NOT NULL,
    kind         text NOT NULL,
    count        bigint NOT NULL DEFAULT 0,
    last_detail  text NOT NULL DEFAULT '',
    last_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sha256, kind)
);

CREATE TABLE policy_module_logs (
    id         bigserial PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    level      text NOT NULL,
    message    text NOT NULL
);
CREATE INDEX policy_module_logs_tenant_idx ON policy_module_logs (tenant_id, id);

GRANT SELECT, INSERT, UPDATE, DELETE ON policy_modules, policy_module_failures, policy_module_logs TO shoal_app;
GRANT USAGE ON SEQUENCE policy_module_logs_id_seq TO shoal_app;
ALTER TABLE policy_modules ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON policy_modules
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE policy_module_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON policy_module_failures
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
ALTER TABLE policy_module_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON policy_module_logs
    USING (tenant_id = NULLIF(current_setting('shoal.tenant_id', true), '')::uuid);
