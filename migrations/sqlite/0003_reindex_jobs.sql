-- fhirdir schema v3 (SQLite): durable reindex jobs and the search parameter definitions each
-- tenant's index reflects. Keys begin with the tenant; no foreign keys (DESIGN.md section 3).
-- Timestamps are epoch microseconds; lists are JSON arrays in TEXT.

-- One `$reindex` of a tenant's resources. `state` is queued, running, completed, failed or
-- cancelled. The job walks `resources` in (res_type, id) order; `after_type`/`after_id` is
-- the last key done, so a restarted job resumes there. A running job belongs to `owner`
-- until `lease_until`; an expired lease lets another process take it over.
CREATE TABLE reindex_jobs (
    tenant       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    types        TEXT    NOT NULL,  -- resource types to reindex; [] = every type
    params       TEXT    NOT NULL,  -- URLs of the parameters waiting for this job
    total        INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    after_type   TEXT,
    after_id     TEXT,
    error        TEXT,
    owner        TEXT,
    lease_until  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- The job queue: runnable jobs, oldest first.
CREATE INDEX reindex_jobs_state ON reindex_jobs (state, created_at);

-- The definitions beyond the built-in ones (profiles/ and the tenant's own SearchParameter
-- resources) that the tenant's index has been (or is being) rebuilt for, each as JSON; a
-- definition that is new, changed or gone since then needs a reindex.
CREATE TABLE indexed_search_params (
    tenant      TEXT NOT NULL,
    url         TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (tenant, url)
);
