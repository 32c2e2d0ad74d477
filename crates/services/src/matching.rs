//! `$match` for Organization and Practitioner (NDH "Organization & Practitioner Match"):
//! before attesting, a client asks whether the directory already holds this entity. `POST
//! [base]/Organization/$match` (or `Practitioner`; the instance-level spelling answers the
//! same, ignoring the id) with a `Parameters` body (`resource`, `onlyCertainMatches`, `count`)
//! or a bare resource, as R4's `Patient/$match`: a `searchset` Bundle ordered by score, each
//! entry with `search.score` and the `match-grade` extension.
//!
//! Candidates come from the search indexes (never a scan), as the caller would search them,
//! so restricted content is filtered exactly as in search: one search per identifier
//! (`identifier=system|value`), and one by name (`name=` for an Organization; `family=` and
//! `phonetic=` for a Practitioner), each at most [`CANDIDATES`]. Grades:
//!
//! - `certain` (score 1): an identifier in common (system and value; a value without a
//!   system matches the same value);
//! - `probable` (0.8): the same name in normal form (case, accents, punctuation, and an
//!   organization's Inc/LLC/Corp ignored; a practitioner's family and first given name) and
//!   the same address (a line, or city with postal code) or phone (its digits);
//! - `possible` (0.6): the same name alone; or (0.4 + 0.2 x similarity) a name whose trigram
//!   similarity is at least [`SIMILAR`] in the same city.
//!
//! Anything else is not a match.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use crate::auth::access::Interaction;
use crate::ctx::RequestCtx;
use crate::error::{Error, Result};
use crate::request::{resource_parameter, OperationBody};
use crate::verify::normalise;

/// The types `$match` answers for.
pub const MATCHABLE: &[&str] = &["Organization", "Practitioner"];

/// The extension on `entry.search` (R4 `match-grade`).
pub const MATCH_GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";

/// Candidates read per search.
pub const CANDIDATES: usize = 50;

/// Smallest trigram similarity of a `possible` match in the same city.
pub const SIMILAR: f64 = 0.5;

/// Default and largest `count`.
const DEFAULT_COUNT: usize = 10;
const MAX_COUNT: usize = 100;

/// A `$match` request.
#[derive(Debug)]
pub struct Request {
    pub resource: Map<String, Value>,
    pub only_certain: bool,
    pub count: usize,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

/// Reads the body of `rtype/$match`.
pub fn parse(rtype: &str, body: &[u8]) -> Result<Request> {
    let params = match crate::request::operation_body("match", rtype, body)? {
        OperationBody::Resource(resource) => {
            return Ok(Request {
                resource,
                only_certain: false,
                count: DEFAULT_COUNT,
            })
        }
        OperationBody::Parameters(params) => params,
    };
    let mut out = Request {
        resource: Map::new(),
        only_certain: false,
        count: DEFAULT_COUNT,
    };
    for p in &params {
        match p.get("name").and_then(Value::as_str) {
            Some("resource") => out.resource = resource_parameter(rtype, p)?,
            Some("onlyCertainMatches") => {
                out.only_certain = p
                    .get("valueBoolean")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| bad("onlyCertainMatches takes a valueBoolean"))?;
            }
            Some("count") => {
                let n = p
                    .get("valueInteger")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("count takes a valueInteger"))?;
                if !(1..=MAX_COUNT as u64).contains(&n) {
                    return Err(bad(format!("count: 1 to {MAX_COUNT}")));
                }
                out.count = n as usize;
            }
            other => {
                return Err(bad(format!(
                    "$match has no parameter {:?} (resource, onlyCertainMatches, count)",
                    other.unwrap_or("")
                )))
            }
        }
    }
    if out.resource.is_empty() {
        return Err(bad(format!(
            "the Parameters body has no resource parameter ({rtype})"
        )));
    }
    Ok(out)
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// `system|value` of each identifier (`value` alone without a system).
fn identifiers(r: &Value) -> Vec<(Option<String>, String)> {
    r["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                text(&i["system"]).map(str::to_owned),
                text(&i["value"])?.to_owned(),
            ))
        })
        .collect()
}

/// The name in normal form.
fn name(rtype: &str, r: &Value) -> Option<String> {
    if rtype == "Organization" {
        return text(&r["name"]).map(normalise::org_name);
    }
    let n = &r["name"][0];
    let family = text(&n["family"])?;
    let given = text(&n["given"][0]).unwrap_or_default();
    Some(normalise::name(&format!("{given} {family}")))
}

/// The addresses of `r` (an Organization's `address`, a Practitioner's `address`).
fn addresses(r: &Value) -> Vec<Value> {
    match &r["address"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![r["address"].clone()],
        _ => Vec::new(),
    }
}

fn phones(r: &Value) -> HashSet<String> {
    r["telecom"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["system"] == "phone")
        .filter_map(|t| text(&t["value"]))
        .map(|v| v.chars().filter(char::is_ascii_digit).collect::<String>())
        .map(|d| d.trim_start_matches('1').to_owned())
        .filter(|d| d.len() >= 7)
        .collect()
}

fn same_place(a: &[Value], b: &[Value]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            let line = |v: &Value| {
                let mut one = v.clone();
                one["city"] = Value::Null;
                one["state"] = Value::Null;
                one["postalCode"] = Value::Null;
                normalise::address(&one)
            };
            let city_zip = |v: &Value| {
                (
                    normalise::name(v["city"].as_str().unwrap_or_default()),
                    normalise::zip5(v["postalCode"].as_str().unwrap_or_default()),
                )
            };
            let lx = line(x);
            (x["line"].is_array() && lx == line(y))
                || (!city_zip(x).0.is_empty()
                    && !city_zip(x).1.is_empty()
                    && city_zip(x) == city_zip(y))
        })
    })
}

fn same_city(a: &[Value], b: &[Value]) -> bool {
    let cities = |l: &[Value]| -> HashSet<String> {
        l.iter()
            .filter_map(|v| text(&v["city"]))
            .map(normalise::name)
            .collect()
    };
    !cities(a).is_disjoint(&cities(b))
}

/// Trigram (Jaccard) similarity of two names in normal form.
pub fn similarity(a: &str, b: &str) -> f64 {
    let grams = |s: &str| -> HashSet<String> {
        let padded: Vec<char> = format!("  {s} ").chars().collect();
        padded.windows(3).map(|w| w.iter().collect()).collect()
    };
    let (x, y) = (grams(a), grams(b));
    let union = x.union(&y).count();
    if union == 0 {
        return 0.0;
    }
    x.intersection(&y).count() as f64 / union as f64
}

/// The grade and score of `candidate` against `wanted`, if it is a match.
pub fn grade(rtype: &str, wanted: &Value, candidate: &Value) -> Option<(&'static str, f64)> {
    let ours = identifiers(wanted);
    let theirs = identifiers(candidate);
    let shared = ours.iter().any(|(sys, val)| {
        theirs
            .iter()
            .any(|(s2, v2)| v2 == val && (sys.is_none() || s2.is_none() || sys == s2))
    });
    if shared {
        return Some(("certain", 1.0));
    }
    let (Some(a), Some(b)) = (name(rtype, wanted), name(rtype, candidate)) else {
        return None;
    };
    let (wa, ca) = (addresses(wanted), addresses(candidate));
    if a == b {
        let phone = !phones(wanted).is_disjoint(&phones(candidate));
        if same_place(&wa, &ca) || phone {
            return Some(("probable", 0.8));
        }
        return Some(("possible", 0.6));
    }
    let sim = similarity(&a, &b);
    if sim >= SIMILAR && same_city(&wa, &ca) {
        return Some(("possible", 0.4 + 0.2 * sim));
    }
    None
}

/// `[type]/$match`: answers the searchset Bundle (JSON).
pub async fn run(ctx: &RequestCtx, rtype: &str, body: &[u8]) -> Result<Value> {
    if !MATCHABLE.contains(&rtype) {
        return Err(Error::not_found(format!(
            "{rtype} has no operation $match here"
        )));
    }
    ctx.authorize(rtype, Interaction::Search)?;
    let req = parse(rtype, body)?;
    let wanted = Value::Object(req.resource);
    let mut searches: Vec<Vec<(String, String)>> = Vec::new();
    for (sys, val) in identifiers(&wanted) {
        let token = sys.map_or_else(|| val.clone(), |s| format!("{s}|{val}"));
        searches.push(vec![("identifier".into(), token)]);
    }
    if rtype == "Organization" {
        if let Some(n) = text(&wanted["name"]) {
            searches.push(vec![("name".into(), n.to_owned())]);
            // Variants of the name (Acme Health / ACME Healthcare) in the same city.
            let first = normalise::words(n).into_iter().next();
            let city = addresses(&wanted)
                .iter()
                .find_map(|a| text(&a["city"]).map(str::to_owned));
            if let (Some(first), Some(city)) = (first, city) {
                searches.push(vec![("name".into(), first), ("address-city".into(), city)]);
            }
        }
    } else if let Some(family) = text(&wanted["name"][0]["family"]) {
        searches.push(vec![("family".into(), family.to_owned())]);
        searches.push(vec![("phonetic".into(), family.to_owned())]);
    }
    if searches.is_empty() {
        return Err(bad(format!(
            "the {rtype} to match has neither an identifier nor a name"
        )));
    }
    let app = ctx.app();
    let conf = app.conformance(ctx.tenant()).await?;
    let limits = search::SearchLimits {
        default_count: CANDIDATES as u32,
        max_count: CANDIDATES as u32,
    };
    let mut candidates: BTreeMap<String, store::VersionRecord> = BTreeMap::new();
    for mut pairs in searches {
        pairs.push(("_count".into(), CANDIDATES.to_string()));
        let query = search::SearchQuery::parse_with_limits(rtype, &pairs, &conf.registry, limits)
            .map_err(Error::from)?;
        let page = app
            .store
            .search(ctx.scope(), &query, &conf.registry, None)
            .await?;
        for r in page.matches {
            candidates.entry(r.id.clone()).or_insert(r);
        }
    }
    let mut found: Vec<(f64, &'static str, String, Value)> = Vec::new();
    for (id, r) in candidates {
        let Some(body) = r.body.as_deref().and_then(|b| serde_json::from_str(b).ok()) else {
            continue;
        };
        if let Some((g, score)) = grade(rtype, &wanted, &body) {
            if !req.only_certain || g == "certain" {
                found.push((score, g, id, body));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    found.truncate(req.count);
    let base = app.tenant_base(ctx.tenant());
    let entries: Vec<Value> = found
        .into_iter()
        .map(|(score, g, id, body)| {
            json!({
                "fullUrl": format!("{base}/{rtype}/{id}"),
                "resource": body,
                "search": {
                    "mode": "match",
                    "score": (score * 100.0).round() / 100.0,
                    "extension": [{"url": MATCH_GRADE, "valueCode": g}],
                },
            })
        })
        .collect();
    Ok(json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "timestamp": fhir::meta::format_instant(chrono::Utc::now()),
        "entry": entries,
    }))
}

/// The canonical URL of `$match`'s OperationDefinition.
pub const DEFINITION_URL: &str = "urn:fhirdir:OperationDefinition:match";

/// The OperationDefinition of `$match`, served at `[base]/OperationDefinition/match`.
#[must_use]
pub fn definition() -> Value {
    let p = |name: &str, kind: &str, doc: &str| json!({"name": name, "use": "in", "min": 0, "max": "1", "type": kind, "documentation": doc});
    json!({
        "resourceType": "OperationDefinition",
        "id": "match",
        "url": DEFINITION_URL,
        "name": "Match",
        "title": "Does the directory already hold this Organization or Practitioner?",
        "status": "active",
        "kind": "operation",
        "code": "match",
        "resource": MATCHABLE,
        "system": false,
        "type": true,
        "instance": true,
        "affectsState": false,
        "description": "NDH Organization & Practitioner Match, shaped as R4 Patient/$match. \
            Candidates come from the search indexes, filtered as the caller's search would be. \
            certain (score 1): an identifier in common; probable (0.8): the same normalised \
            name and the same address line, city with postal code, or phone; possible (0.6): \
            the same name alone, or (0.4 + 0.2 x similarity) a name of trigram similarity at \
            least 0.5 in the same city. The body is a Parameters resource or a bare resource; \
            the instance-level form ignores the id.",
        "parameter": [
            {"name": "resource", "use": "in", "min": 1, "max": "1", "type": "Resource",
             "documentation": "the Organization or Practitioner to match"},
            p("onlyCertainMatches", "boolean", "only certain matches"),
            p("count", "integer", "at most this many matches (1 to 100, default 10)"),
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "searchset, by score, each entry with search.score and the match-grade extension"}
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_follow_identifiers_then_name_and_place() {
        let wanted = json!({"resourceType": "Organization", "name": "Acme Health, Inc.",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
            "address": [{"line": ["100 Main Street"], "city": "Hartford", "postalCode": "06103"}]});
        let same_npi = json!({"name": "Other", "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]});
        assert_eq!(
            grade("Organization", &wanted, &same_npi),
            Some(("certain", 1.0))
        );
        let same_place = json!({"name": "ACME HEALTH", "address": [{"line": ["100 Main St"], "city": "Hartford"}]});
        assert_eq!(
            grade("Organization", &wanted, &same_place),
            Some(("probable", 0.8))
        );
        let name_only = json!({"name": "Acme Health LLC", "address": [{"city": "Boston"}]});
        assert_eq!(
            grade("Organization", &wanted, &name_only),
            Some(("possible", 0.6))
        );
        let variant = json!({"name": "Acme Healthcare", "address": [{"city": "Hartford"}]});
        let (g, s) = grade("Organization", &wanted, &variant).unwrap();
        assert!(g == "possible" && s > 0.4 && s < 0.6, "{s}");
        let unrelated = json!({"name": "Zenith Clinic", "address": [{"city": "Hartford"}]});
        assert_eq!(grade("Organization", &wanted, &unrelated), None);
    }

    #[test]
    fn parameters_are_read_and_mistakes_refused() {
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": {"resourceType": "Practitioner", "name": [{"family": "X"}]}},
            {"name": "onlyCertainMatches", "valueBoolean": true},
            {"name": "count", "valueInteger": 3}]});
        let r = parse("Practitioner", body.to_string().as_bytes()).unwrap();
        assert!(r.only_certain && r.count == 3);
        for bad_body in [
            json!({"resourceType": "Parameters", "parameter": [{"name": "nope", "valueString": "x"}]}),
            json!({"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 0},
                {"name": "resource", "resource": {"resourceType": "Practitioner"}}]}),
            json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {"resourceType": "Patient"}}]}),
            json!({"resourceType": "Patient"}),
        ] {
            assert!(
                parse("Practitioner", bad_body.to_string().as_bytes()).is_err(),
                "{bad_body}"
            );
        }
    }
}
