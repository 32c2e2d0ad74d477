-- fhirdir schema v15 (Postgres): change events (Subscriptions Backport STU 1.1, AuditEvent, replication).
--
-- change_events     one row per version written or deleted, in the write's transaction:
--                   `event_no` is the tenant's own number, taken from `change_counters` at
--                   the end of the write transaction. The counter row stays locked until
--                   commit, so numbers commit in order: a reader that has seen event N never
--                   later finds a smaller number committing (a sequence would not promise
--                   that on Postgres). `action`: create | update | delete; `method`: the
--                   interaction (POST, PUT, PATCH, DELETE); `at`: the version's lastUpdated;
--                   `agent`: who wrote it, `client:{client_id}`, `anonymous`, or `fhirdir`
--                   (fhirdir itself: an import, a job).
-- change_counters   the last number handed out per tenant; kept when a tenant is deleted, so
--                   a tenant created again under the name never repeats a number.
-- tenant_event_settings  how long a tenant keeps its events (no row: 30 days).
-- Keys begin with the tenant; no foreign keys (DESIGN.md section 3). Times: epoch microseconds.
CREATE TABLE change_events (
    tenant     text    NOT NULL,
    event_no   bigint  NOT NULL,
    res_type   text    NOT NULL,
    id         text    NOT NULL,
    version    bigint  NOT NULL,
    action     text    NOT NULL,
    method     text    NOT NULL,
    at         bigint  NOT NULL,
    agent      text    NOT NULL,
    PRIMARY KEY (tenant, event_no)
);
-- AuditEvent?entity=Type/id, and a resource's events for subscriptions' previous versions.
CREATE INDEX change_events_resource ON change_events (tenant, res_type, id, event_no);
-- AuditEvent?date=..., and the retention trim.
CREATE INDEX change_events_at ON change_events (tenant, at);

CREATE TABLE change_counters (
    tenant  text    NOT NULL PRIMARY KEY,
    last    bigint  NOT NULL
);

CREATE TABLE tenant_event_settings (
    tenant          text    NOT NULL PRIMARY KEY,
    retention_days  bigint  NOT NULL
);
