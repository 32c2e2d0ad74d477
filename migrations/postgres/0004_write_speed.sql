-- fhirdir schema v4 (Postgres): byte-order keys, lz4 content and fewer indexes, for write speed.
--
-- Every text key column compares in byte order (COLLATE "C"), as on SQLite. With the
-- database's default collation (C.UTF-8 on Debian, en_US.UTF-8 elsewhere) each comparison in
-- a btree insert or lookup went through strcoll (`varstr_cmp` was a top symbol of an import
-- profile); "C" compares with memcmp. Keys are ids, codes, systems and URLs, for which byte
-- order is the only meaningful order, and keyset paging by id now orders the same on both
-- backends. `value_norm`, `display` and `search_uri.value` were "C" from the start.
-- The statements rebuild the indexes on these columns: instant on a new database, a rewrite
-- on a loaded one.

ALTER TABLE tenants
    ALTER COLUMN name TYPE text COLLATE "C";
ALTER TABLE resources
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE resource_versions
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_string
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN value_exact TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_token
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN system TYPE text COLLATE "C",
    ALTER COLUMN code TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_identifier_type
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN type_system TYPE text COLLATE "C",
    ALTER COLUMN type_code TYPE text COLLATE "C",
    ALTER COLUMN value TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_reference
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN target_type TYPE text COLLATE "C",
    ALTER COLUMN target_id TYPE text COLLATE "C",
    ALTER COLUMN version TYPE text COLLATE "C",
    ALTER COLUMN url TYPE text COLLATE "C",
    ALTER COLUMN identifier_system TYPE text COLLATE "C",
    ALTER COLUMN identifier_value TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_date
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_number
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_quantity
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN system TYPE text COLLATE "C",
    ALTER COLUMN code TYPE text COLLATE "C",
    ALTER COLUMN unit TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_uri
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE search_geo
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN res_type TYPE text COLLATE "C",
    ALTER COLUMN param TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE reindex_jobs
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN id TYPE text COLLATE "C";
ALTER TABLE indexed_search_params
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN url TYPE text COLLATE "C";

-- Resource bodies are TOASTed; lz4 compresses several times faster than the default pglz
-- (`pglz_compress` was the next symbol of the profile) at a similar ratio for JSON. Only new
-- values use it. A server built without lz4 keeps pglz: the migration still succeeds.
DO $$
BEGIN
    ALTER TABLE resources ALTER COLUMN content SET COMPRESSION lz4;
    ALTER TABLE resource_versions ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'lz4 unavailable (%): resource bodies keep pglz compression', SQLERRM;
END
$$;

-- Fewer indexes to maintain on every write (each index row costs a btree insert per index):
-- * `:exact` string searches add the folded value (equal for an exact match) and use
--   `search_string_value`;
-- * `system|` token searches without a code use `search_token_code` (param prefix), so the
--   separate system index goes;
-- * absolute URLs and logical (identifier) references are rare next to `Type/id` ones, so
--   their indexes hold only the rows that have one (every query on them compares the column,
--   which implies it is not NULL, so the planner uses the partial index).
DROP INDEX search_string_exact;
DROP INDEX search_token_system;
DROP INDEX search_reference_url;
CREATE INDEX search_reference_url ON search_reference (tenant, res_type, param, url)
    WHERE url IS NOT NULL;
DROP INDEX search_reference_identifier;
CREATE INDEX search_reference_identifier
    ON search_reference (tenant, res_type, param, identifier_value)
    WHERE identifier_value IS NOT NULL;
