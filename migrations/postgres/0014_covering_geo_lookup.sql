-- fhirdir schema v14: a resource's positions read from the index alone.
--
-- `search_geo_resource` gains `lat` and `lon`: the provider finder starting from a network's
-- roles or from providers found by name looks up each role's site position by id (thousands
-- per request at 1M resources), which then needs no visit to the table row. A resource's own
-- lookups (a delete's cleanup, `:missing`) use it as before.
DROP INDEX IF EXISTS search_geo_resource;
DELETE FROM deferred_indexes WHERE name = 'search_geo_resource';
CREATE INDEX search_geo_resource ON search_geo (tenant, res_type, id, param, lat, lon);
