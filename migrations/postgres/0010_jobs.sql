-- fhirdir schema v10 (Postgres): one durable queue for every kind of background job.
--
-- A job of `kind` (reindex today; bulk export, $import, subscription delivery and directory
-- sync later) belongs to one tenant. `state` is queued, running, completed, failed or
-- cancelled. `params` is the kind's input as JSON text; `cursor` (JSON text, NULL before the
-- first step) is where the job resumes, so a restarted process carries on from the last step
-- recorded. `total`/`done` are the progress report in the kind's own unit. A running job
-- belongs to `owner` until `lease_until` (epoch microseconds); an expired lease lets another
-- process take it over. Keys begin with the tenant; no foreign keys (DESIGN.md section 3).
--
-- `reindex_jobs` (0003) becomes the first kind: its rows move here as kind 'reindex' and the
-- old table is dropped.
CREATE TABLE jobs (
    tenant       text    NOT NULL,
    id           text    NOT NULL,
    kind         text    NOT NULL,
    state        text    NOT NULL,
    params       text    NOT NULL,
    cursor       text,
    total        bigint  NOT NULL,
    done         bigint  NOT NULL,
    error        text,
    owner        text,
    lease_until  bigint  NOT NULL,
    created_at   bigint  NOT NULL,
    updated_at   bigint  NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- The job queue: runnable jobs, oldest first.
CREATE INDEX jobs_queue ON jobs (state, created_at);

-- `types` and `params` are JSON arrays already; the last key done becomes the cursor.
INSERT INTO jobs (tenant, id, kind, state, params, cursor, total, done, error, owner,
                  lease_until, created_at, updated_at)
SELECT tenant, id, 'reindex', state,
       jsonb_build_object('types', types::jsonb, 'params', params::jsonb)::text,
       CASE WHEN after_type IS NULL OR after_id IS NULL THEN NULL
            ELSE jsonb_build_object('after_type', after_type, 'after_id', after_id)::text END,
       total, done, error, owner, lease_until, created_at, updated_at
FROM reindex_jobs;

DROP TABLE reindex_jobs;
