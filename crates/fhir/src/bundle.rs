//! Bundle builders (<https://hl7.org/fhir/R4/bundle.html>) for history and search results.

use serde_json::{json, Value};

/// One entry of a Bundle being built. `resource` is raw JSON text so stored bodies are
/// embedded without being parsed and re-serialised.
#[derive(Debug, Clone)]
pub struct BundleEntry {
    pub full_url: Option<String>,
    pub resource: Option<Box<serde_json::value::RawValue>>,
    /// `entry.request` (history bundles).
    pub request: Option<Value>,
    /// `entry.response` (history, batch and transaction responses).
    pub response: Option<Value>,
    /// `entry.search` (search results).
    pub search: Option<Value>,
}

/// Builds a Bundle of one `type` with links and entries.
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    kind: &'static str,
    total: Option<u64>,
    links: Vec<(String, String)>,
    entries: Vec<BundleEntry>,
    timestamp: Option<String>,
}

impl BundleBuilder {
    /// A Bundle of type `kind` (`searchset`, `history`, `batch-response`, ...).
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            total: None,
            links: Vec::new(),
            entries: Vec::new(),
            timestamp: None,
        }
    }

    pub fn total(mut self, total: Option<u64>) -> Self {
        self.total = total;
        self
    }

    pub fn timestamp(mut self, instant: String) -> Self {
        self.timestamp = Some(instant);
        self
    }

    pub fn link(mut self, relation: &str, url: String) -> Self {
        self.links.push((relation.to_owned(), url));
        self
    }

    pub fn entry(&mut self, entry: BundleEntry) {
        self.entries.push(entry);
    }

    /// Serialises the Bundle to JSON text. The stored resource bodies are copied into the
    /// output as they are: the whole Bundle goes through one serializer that writes text
    /// (serde_json's `to_value` would parse every raw body into a `Value` and print it
    /// again, which was half the CPU of an `_include` search).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&BundleOut(self)).unwrap_or_default()
    }
}

/// The Bundle's JSON, field by field (see [`BundleBuilder::to_json_string`]).
struct BundleOut<'a>(&'a BundleBuilder);

impl serde::Serialize for BundleOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let b = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("resourceType", "Bundle")?;
        m.serialize_entry("id", &crate::new_id())?;
        m.serialize_entry("type", b.kind)?;
        if let Some(t) = &b.timestamp {
            m.serialize_entry("timestamp", t)?;
        }
        if let Some(total) = b.total {
            m.serialize_entry("total", &total)?;
        }
        if !b.links.is_empty() {
            let links: Vec<Value> = b
                .links
                .iter()
                .map(|(r, u)| json!({"relation": r, "url": u}))
                .collect();
            m.serialize_entry("link", &links)?;
        }
        if !b.entries.is_empty() {
            let entries: Vec<EntryOut<'_>> = b.entries.iter().map(EntryOut).collect();
            m.serialize_entry("entry", &entries)?;
        }
        m.end()
    }
}

struct EntryOut<'a>(&'a BundleEntry);

impl serde::Serialize for EntryOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(u) = &e.full_url {
            m.serialize_entry("fullUrl", u)?;
        }
        if let Some(r) = &e.resource {
            m.serialize_entry("resource", r)?;
        }
        if let Some(s) = &e.search {
            m.serialize_entry("search", s)?;
        }
        if let Some(r) = &e.request {
            m.serialize_entry("request", r)?;
        }
        if let Some(r) = &e.response {
            m.serialize_entry("response", r)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_bundle_embeds_raw_resources() {
        let mut b = BundleBuilder::new("history").total(Some(1)).link(
            "self",
            "http://x/fhir/default/Practitioner/1/_history".into(),
        );
        b.entry(BundleEntry {
            full_url: Some("http://x/fhir/default/Practitioner/1".into()),
            resource: Some(
                serde_json::value::RawValue::from_string(
                    r#"{"resourceType":"Practitioner","id":"1"}"#.into(),
                )
                .unwrap(),
            ),
            request: Some(json!({"method": "PUT", "url": "Practitioner/1"})),
            response: Some(json!({"status": "200", "etag": "W/\"1\""})),
            search: None,
        });
        let v: Value = serde_json::from_str(&b.to_json_string()).unwrap();
        assert_eq!(v["type"], "history");
        assert_eq!(v["total"], 1);
        assert_eq!(v["link"][0]["relation"], "self");
        assert_eq!(v["entry"][0]["resource"]["id"], "1");
        assert_eq!(v["entry"][0]["request"]["method"], "PUT");
    }

    #[test]
    fn stored_bodies_are_copied_into_the_bundle_byte_for_byte() {
        let raw = r#"{"resourceType":"Location","id":"l1","position":{"latitude":41.10,"longitude":-95.9345000}}"#;
        let mut b = BundleBuilder::new("searchset").total(Some(1));
        b.entry(BundleEntry {
            full_url: Some("http://x/fhir/default/Location/l1".into()),
            resource: Some(serde_json::value::RawValue::from_string(raw.into()).unwrap()),
            request: None,
            response: None,
            search: Some(json!({"mode": "match"})),
        });
        let text = b.to_json_string();
        assert!(text.contains(raw), "{text}");
        assert!(
            text.starts_with(r#"{"resourceType":"Bundle","id":""#),
            "{text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["entry"][0]["search"]["mode"], "match");
        assert_eq!(v["total"], 1);
    }
}
