-- fhirdir schema v4 (SQLite): fewer indexes, for write speed. (The Postgres migration of the
-- same number also gives its key columns byte-order collation, which SQLite has already, and
-- its resource bodies lz4 compression, which SQLite does not do.)

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
