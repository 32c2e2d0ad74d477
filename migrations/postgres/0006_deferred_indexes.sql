-- fhirdir schema v6: search indexes a bulk load dropped, to be built again.
--
-- `fhirdir import` into empty search tables drops their secondary indexes, loads, then
-- builds each index once from the loaded rows (a sorted build instead of one random btree
-- insert per index row; see store::bulk_load). The definitions wait here while the load runs,
-- so an import that is killed leaves a record from which the next start rebuilds them.
CREATE TABLE deferred_indexes (
    name TEXT NOT NULL PRIMARY KEY,
    definition TEXT NOT NULL
);
