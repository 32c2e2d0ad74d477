-- Practitioner?gender:not=male&name:missing=false&_total=accurate
-- page
SELECT t2.res_type, t2.id, t2.version, t2.deleted, t2.last_updated, t2.method, t2.content FROM (SELECT t1.res_type, t1.id, t1.version, t1.deleted, t1.last_updated, t1.method, t1.content AS content FROM resources t1 WHERE t1.tenant = ? AND t1.res_type = ? AND NOT t1.deleted AND NOT EXISTS (SELECT 1 FROM search_token t3 WHERE t3.tenant = ? AND t3.res_type = ? AND t3.param = ? AND t3.id = t1.id AND ((t3.code = ?))) AND (t1.id IN (SELECT t4.id FROM search_string t4 WHERE t4.tenant = ? AND t4.res_type = ? AND t4.param = ?))) t2 ORDER BY t2.id ASC LIMIT ?
-- binds: [Text("default"), Text("Practitioner"), Text("default"), Text("Practitioner"), Text("gender"), Text("male"), Text("default"), Text("Practitioner"), Text("name"), Int(51)]
-- count
SELECT COUNT(*) FROM resources t1 WHERE t1.tenant = ? AND t1.res_type = ? AND NOT t1.deleted AND NOT EXISTS (SELECT 1 FROM search_token t2 WHERE t2.tenant = ? AND t2.res_type = ? AND t2.param = ? AND t2.id = t1.id AND ((t2.code = ?))) AND (t1.id IN (SELECT t3.id FROM search_string t3 WHERE t3.tenant = ? AND t3.res_type = ? AND t3.param = ?))
-- binds: [Text("default"), Text("Practitioner"), Text("default"), Text("Practitioner"), Text("gender"), Text("male"), Text("default"), Text("Practitioner"), Text("name")]
