-- fhirdir schema v10 (SQLite): one durable queue for every kind of background job.
--
-- See migrations/postgres/0010_jobs.sql for the columns. `reindex_jobs` (0003) becomes the
-- first kind: its rows move here as kind 'reindex' and the old table is dropped.
CREATE TABLE jobs (
    tenant       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    cursor       TEXT,
    total        INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    error        TEXT,
    owner        TEXT,
    lease_until  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- The job queue: runnable jobs, oldest first.
CREATE INDEX jobs_queue ON jobs (state, created_at);

-- `types` and `params` are JSON arrays already; the last key done becomes the cursor.
INSERT INTO jobs (tenant, id, kind, state, params, cursor, total, done, error, owner,
                  lease_until, created_at, updated_at)
SELECT tenant, id, 'reindex', state,
       json_object('types', json(types), 'params', json(params)),
       CASE WHEN after_type IS NULL OR after_id IS NULL THEN NULL
            ELSE json_object('after_type', after_type, 'after_id', after_id) END,
       total, done, error, owner, lease_until, created_at, updated_at
FROM reindex_jobs;

DROP TABLE reindex_jobs;
