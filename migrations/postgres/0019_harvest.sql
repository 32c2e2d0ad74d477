-- fhirdir schema v19 (postgres): remote sources of a tenant (harvested payer directories and
-- primary sources for verification), and what each harvest brought.
--
-- harvest_sources  one row per source: its setting (JSON as the admin API took it, secrets
--                  included), its state (JSON: the last run, counts, dangling references,
--                  errors), and when the setting was written.
-- harvested        one row per resource a source brought into the tenant, under its local id:
--                  the content hash of what was applied (a page that repeats it writes
--                  nothing), the pass that last saw it (a full pass deletes what an earlier
--                  pass saw and it did not), and the local references it holds (space-
--                  separated `Type/id`, for the dangling ones).
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
