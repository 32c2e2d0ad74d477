-- fhirdir schema v19 (postgres): remote sources of a tenant (harvested payer directories and
-- primary sources for verification), what each harvest brought, and verification to come.
--
-- harvest_sources  one row per source: its setting (JSON as the admin API took it, secrets
--                  included), its state (JSON: the last run, counts, dangling references,
--                  errors), and when the setting was written.
-- harvested        one row per resource a source brought into the tenant, under its local id:
--                  the content hash of what was applied (a page that repeats it writes
--                  nothing), the pass that last saw it (a full pass deletes what an earlier
--                  pass saw and it did not), and the local references it holds (space-
--                  separated `Type/id`, for the dangling ones).
-- verification_due                what primary-source verification must do later for a resource:
--                                 `retry` (a source was down) or `revalidate` (its
--                                 VerificationResult's nextScheduled), when, after how many
--                                 tries, and who attested the data (a client id), when known.
-- tenant_verification_settings   a tenant's verification setting (JSON).
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Times: epoch microseconds.
CREATE TABLE harvest_sources (
    tenant   text    NOT NULL,
    name     text    NOT NULL,
    setting  text    NOT NULL,
    state    text    NOT NULL,
    updated  bigint NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE harvested (
    tenant         text    NOT NULL,
    source         text    NOT NULL,
    resource_type  text    NOT NULL,
    id             text    NOT NULL,
    hash           text    NOT NULL,
    pass           bigint NOT NULL,
    refs           text    NOT NULL,
    PRIMARY KEY (tenant, source, resource_type, id)
);

CREATE TABLE verification_due (
    tenant         text    NOT NULL,
    resource_type  text    NOT NULL,
    id             text    NOT NULL,
    due_at         bigint NOT NULL,
    action         text    NOT NULL,
    attempt        bigint NOT NULL,
    attester       text,
    PRIMARY KEY (tenant, resource_type, id)
);

CREATE INDEX verification_due_at ON verification_due (due_at);

CREATE TABLE tenant_verification_settings (
    tenant   text    NOT NULL PRIMARY KEY,
    setting  text    NOT NULL
);
