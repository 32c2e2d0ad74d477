-- fhirdir schema v7: index-only answers for `_has` and chains.
--
-- `resources_live` holds the live resources' keys: a `_has` walk reads a type's live ids in
-- order from it, and the liveness test of a chain or `_has` target is one probe of it,
-- neither visiting the table (on Postgres each visit was a random heap read, 20-30 µs at 1M
-- resources once the table outgrew shared_buffers).
--
-- `search_reference_resource` gains the target: a reference row found by its resource (the
-- set path of `_has`, a delete's cleanup) answers the target without a table visit.
CREATE INDEX resources_live ON resources (tenant, res_type, id) WHERE NOT deleted;
DROP INDEX search_reference_resource;
CREATE INDEX search_reference_resource
    ON search_reference (tenant, res_type, id, param, target_type, target_id);
