//! What a request says beyond its path, in HTTP-free form: the resource in its body, version
//! ETags, and the `Prefer` header (<https://hl7.org/fhir/R4/http.html>). The server's
//! extractors read the raw request into these; Bundle entries carry the same things inside
//! the Bundle.

use serde_json::{Map, Value};

use crate::error::Error;

/// The body of an operation on resources of one type (`$match`, `$validate`): the resource
/// itself, or a `Parameters` resource whose parameters the operation reads.
pub enum OperationBody {
    Resource(Map<String, Value>),
    Parameters(Vec<Value>),
}

/// Reads the body of operation `op` on `rtype`: a `Parameters` resource or a `rtype`; any
/// other resource is a 400 saying so.
pub fn operation_body(op: &str, rtype: &str, bytes: &[u8]) -> Result<OperationBody, Error> {
    let root = parse_resource(bytes)?;
    match root.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == rtype => Ok(OperationBody::Resource(root)),
        Some("Parameters") => Ok(OperationBody::Parameters(
            root.get("parameter")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )),
        other => Err(Error::invalid(format!(
            "the ${op} body is a Parameters resource or a {rtype}, not a {}",
            other.unwrap_or("")
        ))),
    }
}

/// The `resource` parameter `p` of an operation on `rtype`: a resource of that type.
pub fn resource_parameter(rtype: &str, p: &Value) -> Result<Map<String, Value>, Error> {
    match p.get("resource") {
        Some(Value::Object(r)) if r.get("resourceType").and_then(Value::as_str) == Some(rtype) => {
            Ok(r.clone())
        }
        _ => Err(Error::invalid(format!(
            "parameter resource must be a {rtype}"
        ))),
    }
}

/// Parses `bytes` as one FHIR resource (object with a string `resourceType`).
pub fn parse_resource(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::bad_request(
            fhir::IssueType::Structure,
            // serde_json's message already ends with "at line L column C".
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    let root = value
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("Resource");
    fhir::storable::check(&value, root).map_err(unstorable)?;
    let Value::Object(map) = value else {
        return Err(Error::bad_request(
            fhir::IssueType::Structure,
            "request body must be a JSON object (a FHIR resource)",
        ));
    };
    match map.get("resourceType") {
        Some(Value::String(_)) => Ok(map),
        Some(_) => Err(Error::bad_request(
            fhir::IssueType::Structure,
            "resourceType must be a string",
        )),
        None => Err(Error::bad_request(
            fhir::IssueType::Required,
            "the resource has no resourceType",
        )),
    }
}

/// A 400 naming the element that cannot be stored ([`fhir::storable`]).
pub fn unstorable(e: fhir::storable::Unstorable) -> Error {
    Error::bad_request(fhir::IssueType::Value, format!("{e}"))
}

/// Parses a version ETag: `W/"3"`, `"3"` or `3`.
pub fn parse_etag(raw: &str) -> Option<i64> {
    let s = raw.trim();
    let s = s.strip_prefix("W/").unwrap_or(s);
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    s.parse::<i64>().ok().filter(|n| *n > 0)
}

/// `Prefer: return=...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPref {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

/// The `Prefer` header (<https://hl7.org/fhir/R4/http.html#ops>).
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefer {
    pub return_pref: ReturnPref,
    /// `handling=strict`: unknown search parameters are errors.
    pub strict: bool,
    /// `handling=lenient` said explicitly (where the default is strict, as for `$export`).
    pub lenient: bool,
    pub respond_async: bool,
}

impl Prefer {
    pub fn parse(raw: &str) -> Prefer {
        let mut p = Prefer::default();
        // Several preferences may come comma-separated or in repeated headers; unknown ones
        // are ignored, as RFC 7240 asks.
        for token in raw.split([',', ';']).map(str::trim) {
            match token.replace(' ', "").as_str() {
                "return=minimal" => p.return_pref = ReturnPref::Minimal,
                "return=representation" => p.return_pref = ReturnPref::Representation,
                "return=OperationOutcome" => p.return_pref = ReturnPref::OperationOutcome,
                "handling=strict" => {
                    p.strict = true;
                    p.lenient = false;
                }
                "handling=lenient" => {
                    p.strict = false;
                    p.lenient = true;
                }
                "respond-async" => p.respond_async = true,
                _ => {}
            }
        }
        p
    }
}

/// The query string as ordered, decoded pairs (FHIR repeats parameters: order and
/// repetition matter, so a map would lose meaning).
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The last value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert_eq!(parse_etag("W/\"3\""), Some(3));
        assert_eq!(parse_etag("\"12\""), Some(12));
        assert_eq!(parse_etag("7"), Some(7));
        for bad in ["W/\"x\"", "", "W/\"0\"", "\"-1\""] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }

    #[test]
    fn prefer_values() {
        assert_eq!(
            Prefer::parse("return=minimal").return_pref,
            ReturnPref::Minimal
        );
        assert_eq!(
            Prefer::parse("return=OperationOutcome").return_pref,
            ReturnPref::OperationOutcome
        );
        let p = Prefer::parse("handling=strict, return=representation");
        assert!(p.strict);
        assert_eq!(p.return_pref, ReturnPref::Representation);
        assert!(Prefer::parse("respond-async").respond_async);
        assert_eq!(
            Prefer::parse("bogus").return_pref,
            ReturnPref::Representation
        );
    }
}
