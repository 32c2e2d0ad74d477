-- fhirdir schema v8: nothing on SQLite.
--
-- Postgres widens `search_string_resource` with `value_norm` for the string-prefix walk
-- (migrations/postgres/0008_string_walk_index.sql). SQLite does not walk string rows: its
-- planner, without fresh statistics, chose the wider index for every prefix search and read
-- every string row of the type. The version exists so both backends number their schema alike.
SELECT 1;
