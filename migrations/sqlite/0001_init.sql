-- fhirdir schema v1 (SQLite): tenants, current resource versions, every version.
-- Every primary key begins with `tenant`; there are no foreign keys (DESIGN.md section 3).
-- Timestamps are epoch microseconds (exact, sortable, the same on both backends).

CREATE TABLE tenants (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

-- The current version of each resource; tombstones have deleted = 1 and content NULL.
CREATE TABLE resources (
    tenant        TEXT    NOT NULL,
    res_type      TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    method        TEXT    NOT NULL,
    content       TEXT,
    PRIMARY KEY (tenant, res_type, id)
);

-- Every version (vread, history) and the change-event log: `seq` grows database-wide.
-- SQLite allocates it as MAX(seq) + 1 inside the (serialised) write transaction.
CREATE TABLE resource_versions (
    tenant        TEXT    NOT NULL,
    res_type      TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    method        TEXT    NOT NULL,
    content       TEXT,
    PRIMARY KEY (tenant, res_type, id, version)
);

-- Makes MAX(seq) an index lookup rather than a scan on every write.
CREATE INDEX resource_versions_seq ON resource_versions (seq);
-- System history and the per-tenant change feed.
CREATE INDEX resource_versions_tenant_seq ON resource_versions (tenant, seq);
-- Type history.
CREATE INDEX resource_versions_tenant_type_seq ON resource_versions (tenant, res_type, seq);
-- `_since` / `_at` over a whole tenant.
CREATE INDEX resource_versions_tenant_last_updated ON resource_versions (tenant, last_updated);
