-- PractitionerRole?specialty=207Q00000X&_count=20
-- page
SELECT t4.res_type, t4.id, t4.version, t4.deleted, t4.last_updated, t4.method, t4.content AS content, (SELECT rh.policy FROM restrictions rh WHERE rh.tenant = t4.tenant AND rh.res_type = t4.res_type AND rh.id = t4.id) AS policy FROM (SELECT t2.id FROM (SELECT DISTINCT t5.id AS id FROM search_token t5 WHERE t5.tenant = ? AND t5.res_type = ? AND t5.param = ? AND ((t5.code = ?)) ORDER BY t5.id ASC LIMIT ?) t2 ORDER BY t2.id ASC LIMIT ?) t3 CROSS JOIN resources t4 ON t4.tenant = ? AND t4.res_type = ? AND t4.id = t3.id AND NOT t4.deleted ORDER BY t3.id ASC
-- binds: [Text("default"), Text("PractitionerRole"), Text("specialty"), Text("207Q00000X"), Int(21), Int(21), Text("default"), Text("PractitionerRole")]
