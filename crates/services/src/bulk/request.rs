//! The kick-off parameters of `$export` (Bulk Data 2.0, export.html "Query Parameters"), read
//! from the query string or a `Parameters` body into an [`ExportRequest`].
//!
//! Every parameter may repeat and every list may be comma-separated; both mean one list.
//! An unsupported parameter or value is a 400 naming it, unless the client sent
//! `Prefer: handling=lenient`: then it is ignored and said so in the manifest's `error` file
//! (one OperationOutcome each), as the specification suggests. A malformed value (an instant
//! that is not one, a filter that does not parse) is a 400 either way.

use std::collections::BTreeMap;

use fhir::IssueType;
use serde_json::Value;

use crate::error::{Error, Result};

/// The `_outputFormat` values that mean NDJSON (the only format fhirdir writes).
pub const NDJSON_FORMATS: [&str; 3] = ["application/fhir+ndjson", "application/ndjson", "ndjson"];

/// Search result parameters a `_typeFilter` may not use: the output is every match, whole,
/// in the server's order, without other types mixed in.
const FILTER_REFUSED: [&str; 9] = [
    "_include",
    "_revinclude",
    "_sort",
    "_count",
    "_elements",
    "_summary",
    "_total",
    "_contained",
    "_containedType",
];

/// Which operation is kicked off: the parameters each accepts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `$export` at the system or type level.
    Export,
    /// `Group/{id}/$export`: also `patient`.
    GroupExport,
    /// `Group/{id}/$davinci-data-export` (Da Vinci PDex): also `patient`, and `exportType`
    /// (required).
    DavinciExport,
}

/// The `includeAssociatedData` value this server supports: the latest Provenance of each
/// exported resource.
pub const LATEST_PROVENANCE: &str = "LatestProvenanceResources";

/// The `exportType` values of `$davinci-data-export` this server accepts (PDex Provider API,
/// payer-to-payer, and Da Vinci ATR member lists).
pub const EXPORT_TYPES: [&str; 3] = [
    "hl7.fhir.us.davinci-pdex",
    "hl7.fhir.us.davinci-pdex#payertopayer",
    "hl7.fhir.us.davinci-atr",
];

/// What a kick-off asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportRequest {
    /// `_type`: the types to export; empty: every type the caller may read.
    pub types: Vec<String>,
    /// `_since` / `_until`, epoch microseconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `_typeFilter`: per type, the search queries (`a=b&c=d`) whose matches are exported;
    /// several for one type are OR-ed.
    pub type_filters: BTreeMap<String, Vec<Vec<(String, String)>>>,
    /// `_elements`: `Type.element` or `element`.
    pub elements: Vec<String>,
    /// `patient`: the members of a Group to export (references); empty: every member.
    pub patients: Vec<String>,
    /// `exportType` of `$davinci-data-export`.
    pub export_type: Option<String>,
    /// `includeAssociatedData=LatestProvenanceResources`.
    pub latest_provenance: bool,
    /// What was ignored under `Prefer: handling=lenient`, one sentence each.
    pub ignored: Vec<String>,
}

impl ExportRequest {
    /// The `_elements` that apply to `rtype` (its own and the unqualified ones); empty: the
    /// whole resource.
    pub fn elements_of(&self, rtype: &str) -> Vec<String> {
        self.elements
            .iter()
            .filter_map(|e| match e.split_once('.') {
                Some((t, name)) if t == rtype => Some(name.to_owned()),
                Some(_) => None,
                None => Some(e.clone()),
            })
            .collect()
    }
}

/// The values of a parameter: repeats and commas are one list; empty items dropped.
fn list<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request(IssueType::Invalid, msg)
}

fn unsupported(msg: impl Into<String>) -> Error {
    Error::bad_request(IssueType::NotSupported, msg)
}

/// A FHIR instant (`2026-01-01T00:00:00Z`, fractions and offsets allowed), as epoch
/// microseconds.
fn instant(name: &str, raw: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            bad(format!(
                "{name}={raw:?} is not a FHIR instant (e.g. 2026-01-01T00:00:00Z)"
            ))
        })
}

/// Collects one parameter's values in order of appearance.
fn grouped(pairs: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        by_name.entry(k.as_str()).or_default().push(v.as_str());
    }
    by_name
}

/// Reads `pairs` of `op` (see the module documentation). `lenient`:
/// `Prefer: handling=lenient`.
pub fn parse(pairs: &[(String, String)], op: Operation, lenient: bool) -> Result<ExportRequest> {
    let mut req = ExportRequest::default();
    let refuse = |req: &mut ExportRequest, e: Error| -> Result<()> {
        if lenient {
            req.ignored.push(e.diagnostics().to_owned());
            Ok(())
        } else {
            Err(e)
        }
    };
    for (name, values) in grouped(pairs) {
        match name {
            "_outputFormat" => {
                for f in list(&values) {
                    if !NDJSON_FORMATS.contains(&f) {
                        refuse(
                            &mut req,
                            unsupported(format!(
                                "_outputFormat={f:?} is not supported: fhirdir writes \
                                 application/fhir+ndjson (also accepted as application/ndjson \
                                 or ndjson)"
                            )),
                        )?;
                    }
                }
            }
            "_type" => {
                for t in list(&values) {
                    if !fhir::is_resource_type(t) {
                        refuse(
                            &mut req,
                            unsupported(format!("_type: {t:?} is not a FHIR R4 resource type")),
                        )?;
                    } else if !req.types.iter().any(|x| x == t) {
                        req.types.push(t.to_owned());
                    }
                }
            }
            "_since" | "_until" => {
                if values.len() > 1 {
                    return Err(bad(format!("{name} may be given once")));
                }
                let at = instant(name, values[0])?;
                if name == "_since" {
                    req.since = Some(at);
                } else {
                    req.until = Some(at);
                }
            }
            "_typeFilter" => {
                for raw in &values {
                    let (rtype, query) = type_filter(raw)?;
                    req.type_filters.entry(rtype).or_default().push(query);
                }
            }
            "_elements" => {
                for e in list(&values) {
                    element(e)?;
                    req.elements.push(e.to_owned());
                }
            }
            "includeAssociatedData" => {
                for v in list(&values) {
                    if v == LATEST_PROVENANCE {
                        req.latest_provenance = true;
                        continue;
                    }
                    refuse(
                        &mut req,
                        unsupported(format!(
                            "includeAssociatedData={v:?} is not supported by this server"
                        )),
                    )?;
                }
            }
            // Presentation only: the output is NDJSON whatever they say.
            "_format" | "_pretty" => {}
            "patient" if op != Operation::Export => {
                for r in list(&values) {
                    if !r.contains('/') {
                        return Err(bad(format!(
                            "patient={r:?} is not a reference (Patient/id)"
                        )));
                    }
                    req.patients.push(r.to_owned());
                }
            }
            "patient" => refuse(
                &mut req,
                unsupported("patient is accepted by a Group's $export and $davinci-data-export"),
            )?,
            "exportType" | "_exportType" if op == Operation::DavinciExport => {
                for t in list(&values) {
                    if !EXPORT_TYPES.contains(&t) {
                        return Err(unsupported(format!(
                            "exportType={t:?} is not supported (supported: {})",
                            EXPORT_TYPES.join(", ")
                        )));
                    }
                    req.export_type = Some(t.to_owned());
                }
            }
            other => refuse(
                &mut req,
                unsupported(format!(
                    "{other} is not a parameter of $export here (supported: _outputFormat, \
                     _type, _since, _until, _typeFilter, _elements); send \
                     Prefer: handling=lenient to have unknown parameters ignored"
                )),
            )?,
        }
    }
    if op == Operation::DavinciExport && req.export_type.is_none() {
        return Err(Error::bad_request(
            IssueType::Required,
            format!(
                "$davinci-data-export needs exportType (one of {})",
                EXPORT_TYPES.join(", ")
            ),
        ));
    }
    if let (Some(s), Some(u)) = (req.since, req.until) {
        if u <= s {
            return Err(bad("_until must be later than _since"));
        }
    }
    // A filter for a type outside `_type` would export nothing: say so rather than guess.
    if !req.types.is_empty() {
        if let Some(t) = req.type_filters.keys().find(|t| !req.types.contains(t)) {
            return Err(bad(format!(
                "_typeFilter names {t}, which is not in _type ({})",
                req.types.join(",")
            )));
        }
    }
    Ok(req)
}

/// `Type?a=b&c=d`: the type and the query's pairs (percent-decoded).
fn type_filter(raw: &str) -> Result<(String, Vec<(String, String)>)> {
    let Some((rtype, query)) = raw.split_once('?') else {
        return Err(bad(format!(
            "_typeFilter={raw:?} must be a resource type and a search query: Type?name=value"
        )));
    };
    if !fhir::is_resource_type(rtype) {
        return Err(bad(format!(
            "_typeFilter={raw:?}: {rtype:?} is not a FHIR R4 resource type"
        )));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
        bad(format!(
            "_typeFilter={raw:?}: the query does not parse: {e}"
        ))
    })?;
    if pairs.is_empty() {
        return Err(bad(format!("_typeFilter={raw:?} has no search parameter")));
    }
    if let Some((k, _)) = pairs.iter().find(|(k, _)| {
        let name = k.split(':').next().unwrap_or(k);
        FILTER_REFUSED.contains(&name)
    }) {
        return Err(bad(format!(
            "_typeFilter={raw:?}: {k} is not allowed in a filter (only search criteria are)"
        )));
    }
    Ok((rtype.to_owned(), pairs))
}

/// `Type.element` or `element`: a root element only.
fn element(e: &str) -> Result<()> {
    let name = match e.split_once('.') {
        Some((t, name)) => {
            if !fhir::is_resource_type(t) {
                return Err(bad(format!(
                    "_elements: {e:?}: {t:?} is not a FHIR R4 resource type"
                )));
            }
            name
        }
        None => e,
    };
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(bad(format!(
            "_elements: {e:?} is not an element name (only root elements, as Type.element or \
             element, are allowed)"
        )));
    }
    Ok(())
}

/// The parameters of a `POST` kick-off's `Parameters` body as name/value pairs, as they would
/// be in a query string.
pub fn parameters_pairs(body: &Value) -> Result<Vec<(String, String)>> {
    if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(bad("a POST $export body must be a Parameters resource"));
    }
    let mut pairs = Vec::new();
    let Some(params) = body.get("parameter") else {
        return Ok(pairs);
    };
    let params = params
        .as_array()
        .ok_or_else(|| bad("Parameters.parameter must be an array"))?;
    for (i, p) in params.iter().enumerate() {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("Parameters.parameter[{i}] has no name")))?;
        let value = p
            .as_object()
            .into_iter()
            .flatten()
            .find(|(k, _)| k.starts_with("value"))
            .map(|(_, v)| v);
        let text = match value {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Object(o)) => match o.get("reference").and_then(Value::as_str) {
                Some(r) => r.to_owned(),
                None => {
                    return Err(bad(format!(
                        "Parameters.parameter[{i}] ({name}): only a Reference is accepted as \
                         a complex value"
                    )))
                }
            },
            _ => {
                return Err(bad(format!(
                    "Parameters.parameter[{i}] ({name}) has no value[x]"
                )))
            }
        };
        pairs.push((name.to_owned(), text));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn repeats_and_commas_are_one_list() {
        let r = parse(
            &pairs(&[
                ("_type", "Practitioner,Location"),
                ("_type", "Practitioner"),
            ]),
            Operation::Export,
            false,
        )
        .unwrap();
        assert_eq!(r.types, ["Practitioner", "Location"]);
    }

    #[test]
    fn unsupported_values_are_refused_unless_lenient() {
        for bad in [
            ("_outputFormat", "text/csv"),
            ("_type", "Doctor"),
            ("foo", "bar"),
            ("includeAssociatedData", "_RelevantProvenanceResources"),
        ] {
            let e = parse(&pairs(&[bad]), Operation::Export, false).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
            assert!(
                e.diagnostics().contains(bad.0),
                "{bad:?}: {}",
                e.diagnostics()
            );
            let r = parse(&pairs(&[bad]), Operation::Export, true).unwrap();
            assert_eq!(r.ignored.len(), 1, "{bad:?}");
        }
        for ok in NDJSON_FORMATS {
            parse(&pairs(&[("_outputFormat", ok)]), Operation::Export, false).unwrap();
        }
    }

    #[test]
    fn malformed_values_are_refused_even_lenient() {
        for bad in [
            ("_since", "yesterday"),
            ("_typeFilter", "Practitioner"),
            ("_typeFilter", "Doctor?name=x"),
            ("_typeFilter", "Practitioner?_include=Practitioner:x"),
            ("_elements", "Practitioner.name.family"),
        ] {
            let e = parse(&pairs(&[bad]), Operation::Export, true).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
        }
        let e = parse(
            &pairs(&[
                ("_type", "Location"),
                ("_typeFilter", "Practitioner?name=x"),
            ]),
            Operation::Export,
            false,
        )
        .unwrap_err();
        assert!(
            e.diagnostics().contains("not in _type"),
            "{}",
            e.diagnostics()
        );
    }

    #[test]
    fn filters_and_elements() {
        let r = parse(
            &pairs(&[
                ("_typeFilter", "Practitioner?name=smith&active=true"),
                ("_typeFilter", "Practitioner?family=jones"),
                ("_elements", "Practitioner.name,id"),
                ("_since", "2026-01-01T00:00:00+02:00"),
            ]),
            Operation::Export,
            false,
        )
        .unwrap();
        assert_eq!(r.type_filters["Practitioner"].len(), 2);
        assert_eq!(r.type_filters["Practitioner"][0][1].1, "true");
        assert_eq!(r.elements_of("Practitioner"), ["name", "id"]);
        assert_eq!(r.elements_of("Location"), ["id"]);
        assert_eq!(r.since, Some(1_767_218_400_000_000));
    }

    #[test]
    fn davinci_needs_an_export_type_and_takes_a_patient_subset() {
        let davinci = Operation::DavinciExport;
        let e = parse(&pairs(&[("patient", "Patient/a")]), davinci, false).unwrap_err();
        assert!(
            e.diagnostics().contains("exportType"),
            "{}",
            e.diagnostics()
        );
        let e = parse(&pairs(&[("exportType", "x")]), davinci, true).unwrap_err();
        assert_eq!(e.status(), 400);
        for t in EXPORT_TYPES {
            let r = parse(
                &pairs(&[("_exportType", t), ("patient", "Patient/a,Patient/b")]),
                davinci,
                false,
            )
            .unwrap();
            assert_eq!(r.patients, ["Patient/a", "Patient/b"]);
        }
        // Not a parameter of the other operations.
        parse(
            &pairs(&[("exportType", EXPORT_TYPES[0])]),
            Operation::GroupExport,
            false,
        )
        .unwrap_err();
        parse(
            &pairs(&[("patient", "Patient/a")]),
            Operation::Export,
            false,
        )
        .unwrap_err();
        parse(
            &pairs(&[("patient", "Patient/a")]),
            Operation::GroupExport,
            false,
        )
        .unwrap();
    }

    #[test]
    fn parameters_body() {
        let body = serde_json::json!({"resourceType": "Parameters", "parameter": [
            {"name": "_type", "valueString": "Practitioner"},
            {"name": "_since", "valueInstant": "2026-01-01T00:00:00Z"},
            {"name": "patient", "valueReference": {"reference": "Patient/a"}}]});
        assert_eq!(
            parameters_pairs(&body).unwrap(),
            pairs(&[
                ("_type", "Practitioner"),
                ("_since", "2026-01-01T00:00:00Z"),
                ("patient", "Patient/a")
            ])
        );
        assert!(parameters_pairs(&serde_json::json!({"resourceType": "Bundle"})).is_err());
    }
}
