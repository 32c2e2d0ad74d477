//! Bundle builders (<https://hl7.org/fhir/R4/bundle.html>) for history and search results.

use serde_json::{json, Map, Value};

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

    /// Serialises the Bundle to JSON text.
    pub fn to_json_string(&self) -> String {
        let mut b = Map::new();
        b.insert("resourceType".into(), json!("Bundle"));
        b.insert("id".into(), json!(crate::new_id()));
        b.insert("type".into(), json!(self.kind));
        if let Some(t) = &self.timestamp {
            b.insert("timestamp".into(), json!(t));
        }
        if let Some(total) = self.total {
            b.insert("total".into(), json!(total));
        }
        if !self.links.is_empty() {
            let links: Vec<Value> = self
                .links
                .iter()
                .map(|(r, u)| json!({"relation": r, "url": u}))
                .collect();
            b.insert("link".into(), Value::Array(links));
        }
        let mut bundle = Value::Object(b);
        // Entries hold raw JSON, so they are serialised through a small wrapper instead of
        // being converted to `Value`.
        if !self.entries.is_empty() {
            let entries: Vec<EntryOut<'_>> = self.entries.iter().map(EntryOut).collect();
            bundle["entry"] = serde_json::to_value(&entries).unwrap_or(Value::Null);
        }
        bundle.to_string()
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
}
