-- fhirdir schema v5: the token value index orders a code's rows by resource id.
--
-- `search_token_code` was (tenant, res_type, param, code, system, id): a code's rows in
-- (system, id) order, so the first page of `specialty=X` (ordered by id) had to read and
-- sort every match (42,000 rows, 20 ms at 1M PractitionerRoles) to keep 21. With the id
-- right after the code, the database merges the rows in id order with the resources and
-- stops when the page is full. `system` stays in the index (after the id), so `system|code`
-- still needs no table access; `system|` alone scans the parameter's rows, as before.
DROP INDEX search_token_code;
CREATE INDEX search_token_code ON search_token (tenant, res_type, param, code, id, system);
