-- fhirdir schema v8: a string parameter's values in resource-id order.
--
-- `search_string_resource` gains `value_norm`: a search whose first criterion is a common
-- string prefix (`Practitioner?name=mar`, 29,000 index rows at 1M resources) reads the type's
-- string rows in id order from it, tests each value without visiting the table, and stops
-- after the page, where the value index gives every match and the page needs them all sorted
-- by id. A resource's own lookups (a delete's cleanup, `:missing`, `:not`) use it as before.
-- Postgres only: see migrations/sqlite/0008_string_walk_index.sql.
DROP INDEX IF EXISTS search_string_resource;
DELETE FROM deferred_indexes WHERE name = 'search_string_resource';
CREATE INDEX search_string_resource ON search_string (tenant, res_type, id, param, value_norm);
