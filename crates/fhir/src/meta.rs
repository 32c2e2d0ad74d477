//! Server-assigned resource metadata (<https://hl7.org/fhir/R4/resource.html#Meta>):
//! `id`, `meta.versionId` and `meta.lastUpdated` always come from the server.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Sets `id`, `meta.versionId` and `meta.lastUpdated` on `resource`, keeping every other
/// `meta` element the client sent (profile, tag, security, source).
///
/// `resource` must be a JSON object (the caller has checked `resourceType`).
pub fn stamp_meta(
    resource: &mut Map<String, Value>,
    id: &str,
    version: i64,
    last_updated: DateTime<Utc>,
) {
    resource.insert("id".into(), Value::String(id.to_owned()));
    let meta = resource
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Value::Object(meta) = meta {
        meta.insert("versionId".into(), Value::String(version.to_string()));
        meta.insert(
            "lastUpdated".into(),
            Value::String(format_instant(last_updated)),
        );
    }
}

/// An `instant` as FHIR writes it: RFC 3339, UTC, microsecond precision.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An HTTP-date (RFC 9110) for `Last-Modified`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_meta_overrides_client_values_and_keeps_profiles() {
        let mut r = json!({"resourceType": "Practitioner", "id": "client",
            "meta": {"versionId": "99", "lastUpdated": "1999-01-01T00:00:00Z", "profile": ["p"]}});
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .to_utc();
        stamp_meta(r.as_object_mut().unwrap(), "srv", 3, t);
        assert_eq!(r["id"], "srv");
        assert_eq!(r["meta"]["versionId"], "3");
        assert_eq!(r["meta"]["lastUpdated"], "2026-01-02T03:04:05.123456Z");
        assert_eq!(r["meta"]["profile"], json!(["p"]));
    }

    #[test]
    fn stamp_meta_replaces_non_object_meta() {
        let mut r = json!({"resourceType": "Practitioner", "meta": 5});
        stamp_meta(r.as_object_mut().unwrap(), "a", 1, Utc::now());
        assert_eq!(r["meta"]["versionId"], "1");
    }

    #[test]
    fn http_date_format() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T07:44:11Z")
            .unwrap()
            .to_utc();
        assert_eq!(http_date(t), "Sat, 21 Nov 2026 07:44:11 GMT");
    }
}
