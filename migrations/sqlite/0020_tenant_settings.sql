-- A tenant's settings, one row per kind (`verification`, `validation`), each a JSON text
-- its service reads and checks. Replaces the verification-only table of 0019.
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3).
CREATE TABLE tenant_settings (
    tenant   TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    setting  TEXT    NOT NULL,
    PRIMARY KEY (tenant, name)
);

INSERT INTO tenant_settings (tenant, name, setting)
    SELECT tenant, 'verification', setting FROM tenant_verification_settings;

DROP TABLE tenant_verification_settings;
