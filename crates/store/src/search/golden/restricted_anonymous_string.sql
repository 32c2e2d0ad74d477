-- Practitioner?name=mor&_count=20
-- page
SELECT t4.res_type, t4.id, t4.version, t4.deleted, t4.last_updated, t4.method, t4.content AS content, (SELECT rh.policy FROM restrictions rh WHERE rh.tenant = t4.tenant AND rh.res_type = t4.res_type AND rh.id = t4.id) AS policy FROM (SELECT t2.id FROM (SELECT DISTINCT t5.id AS id FROM search_string t5 WHERE t5.tenant = ? AND t5.res_type = ? AND t5.param = ? AND ((t5.value_norm >= ? AND t5.value_norm < ?)) ORDER BY t5.id ASC LIMIT ?) t2 ORDER BY t2.id ASC LIMIT ?) t3 CROSS JOIN resources t4 ON t4.tenant = ? AND t4.res_type = ? AND t4.id = t3.id AND NOT t4.deleted ORDER BY t3.id ASC
-- binds: [Text("default"), Text("Practitioner"), Text("name"), Text("mor"), Text("mos"), Int(21), Int(21), Text("default"), Text("Practitioner")]
-- walk probe
SELECT COUNT(*) FROM (SELECT t7.id FROM search_string t7 WHERE t7.tenant = ? AND t7.res_type = ? AND t7.param = ? AND ((t7.value_norm >= ? AND t7.value_norm < ?)) LIMIT ?) t8
-- binds: [Text("default"), Text("Practitioner"), Text("name"), Text("mor"), Text("mos"), Int(16000)]
-- row walk page
SELECT t12.res_type, t12.id, t12.version, t12.deleted, t12.last_updated, t12.method, t12.content AS content, (SELECT rh.policy FROM restrictions rh WHERE rh.tenant = t12.tenant AND rh.res_type = t12.res_type AND rh.id = t12.id) AS policy FROM (SELECT t10.id FROM (SELECT DISTINCT t9.id AS id FROM search_string t9 WHERE t9.tenant = ? AND t9.res_type = ? AND t9.param = ? AND COALESCE(((t9.value_norm >= ? AND t9.value_norm < ?)), false) ORDER BY t9.id ASC LIMIT ?) t10 ORDER BY t10.id ASC LIMIT ?) t11 CROSS JOIN resources t12 ON t12.tenant = ? AND t12.res_type = ? AND t12.id = t11.id AND NOT t12.deleted ORDER BY t11.id ASC
-- binds: [Text("default"), Text("Practitioner"), Text("name"), Text("mor"), Text("mos"), Int(21), Int(21), Text("default"), Text("Practitioner")]
