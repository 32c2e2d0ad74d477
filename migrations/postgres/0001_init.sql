-- fhirdir schema v1 (Postgres): tenants, current resource versions, every version.
-- Every primary key begins with `tenant`; there are no foreign keys, so the tables can be
-- distributed by tenant (Citus) later (DESIGN.md section 3).
-- Timestamps are epoch microseconds (exact, sortable, the same on both backends).

CREATE TABLE tenants (
    name        text   NOT NULL PRIMARY KEY,
    created_at  bigint NOT NULL
);

-- The current version of each resource; tombstones have deleted = true and content NULL.
CREATE TABLE resources (
    tenant        text    NOT NULL,
    res_type      text    NOT NULL,
    id            text    NOT NULL,
    version       bigint  NOT NULL,
    deleted       boolean NOT NULL,
    last_updated  bigint  NOT NULL,
    method        text    NOT NULL,
    content       jsonb,
    PRIMARY KEY (tenant, res_type, id)
);

-- Every version (vread, history) and the change-event log: `seq` grows database-wide.
CREATE TABLE resource_versions (
    tenant        text    NOT NULL,
    res_type      text    NOT NULL,
    id            text    NOT NULL,
    version       bigint  NOT NULL,
    seq           bigint  GENERATED ALWAYS AS IDENTITY,
    deleted       boolean NOT NULL,
    last_updated  bigint  NOT NULL,
    method        text    NOT NULL,
    content       jsonb,
    PRIMARY KEY (tenant, res_type, id, version)
);

-- System history and the per-tenant change feed.
CREATE INDEX resource_versions_tenant_seq ON resource_versions (tenant, seq);
-- Type history.
CREATE INDEX resource_versions_tenant_type_seq ON resource_versions (tenant, res_type, seq);
-- `_since` / `_at` over a whole tenant.
CREATE INDEX resource_versions_tenant_last_updated ON resource_versions (tenant, last_updated);
